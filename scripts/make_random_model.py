"""Writes an F16 GGUF file with the exact tensor shapes and hyper-parameters of a real model and
random weights, for speed measurements (speed does not depend on the values). The tokenizer is a
SentencePiece-style vocabulary of the real size (byte tokens plus letter pieces that text round-trips
through), enough for tandem and llama.cpp to load the file; its text output is meaningless.

Usage: make_random_model.py SHAPE OUT.gguf     SHAPE: llama-3.2-1b | qwen3-1.7b | tinyllama-1.1b | llama-300m
Tensors are generated and written one at a time, so memory stays at one tensor."""
import struct
import sys

import numpy as np

SHAPES = {
    # Llama-3.2-1B: config.json of meta-llama/Llama-3.2-1B (tied embeddings, Llama 3 RoPE scaling).
    "llama-3.2-1b": dict(arch="llama", n_embd=2048, n_layer=16, n_head=32, n_kv=8, head_dim=64, n_ff=8192,
                         n_vocab=128256, n_ctx=131072, rope_base=500000.0, eps=1e-5, tied=True, qk_norm=False,
                         rope_freqs=True),
    # TinyLlama-1.1B: config.json of TinyLlama/TinyLlama-1.1B-Chat-v1.0 (a 1.1 B Llama shape with its
    # own output matrix): the file the group-computing benchmark splits over two hosts.
    "tinyllama-1.1b": dict(arch="llama", n_embd=2048, n_layer=22, n_head=32, n_kv=4, head_dim=64, n_ff=5632,
                           n_vocab=32000, n_ctx=2048, rope_base=10000.0, eps=1e-5, tied=False, qk_norm=False,
                           rope_freqs=False),
    # A ~300 M-parameter Llama shape with a 16K context: prefill costs real time, as the KV cache
    # benchmark (scripts/bench_kv.py) needs, while a 4,000-token document still fits a test run.
    "llama-300m": dict(arch="llama", n_embd=1024, n_layer=16, n_head=16, n_kv=4, head_dim=64, n_ff=4096,
                       n_vocab=32000, n_ctx=16384, rope_base=10000.0, eps=1e-5, tied=False, qk_norm=False,
                       rope_freqs=False),
    # Qwen3-1.7B: config.json of Qwen/Qwen3-1.7B (tied embeddings, per-head q/k RMSNorm).
    "qwen3-1.7b": dict(arch="qwen3", n_embd=2048, n_layer=28, n_head=16, n_kv=8, head_dim=128, n_ff=6144,
                       n_vocab=151936, n_ctx=40960, rope_base=1000000.0, eps=1e-6, tied=True, qk_norm=True,
                       rope_freqs=False),
}

U32, F32, BOOL, STR, ARR, I32 = 4, 6, 7, 8, 9, 5
T_F32, T_F16 = 0, 1


def s(x):
    b = x.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, t, v, elem=None):
    out = [s(key), struct.pack("<I", t)]
    if t == STR:
        out.append(s(v))
    elif t == ARR:
        out.append(struct.pack("<IQ", elem, len(v)))
        if elem == STR:
            out.extend(s(x) for x in v)
        elif elem == F32:
            out.append(np.asarray(v, np.float32).tobytes())
        elif elem == I32:
            out.append(np.asarray(v, np.int32).tobytes())
    else:
        out.append(struct.pack({U32: "<I", F32: "<f", BOOL: "<?"}[t], v))
    return b"".join(out)


def tensors(c):
    """(name, shape as [rows, cols] numpy order, type, scale) in file order."""
    e, hd = c["n_embd"], c["head_dim"]
    out = [("token_embd.weight", (c["n_vocab"], e), T_F16, 0.02)]
    if c["rope_freqs"]:
        out.append(("rope_freqs.weight", (hd // 2,), T_F32, None))
    for i in range(c["n_layer"]):
        p = f"blk.{i}."
        out += [(p + "attn_norm.weight", (e,), T_F32, None),
                (p + "attn_q.weight", (c["n_head"] * hd, e), T_F16, 0.02),
                (p + "attn_k.weight", (c["n_kv"] * hd, e), T_F16, 0.02),
                (p + "attn_v.weight", (c["n_kv"] * hd, e), T_F16, 0.02),
                (p + "attn_output.weight", (e, c["n_head"] * hd), T_F16, 0.02)]
        if c["qk_norm"]:
            out += [(p + "attn_q_norm.weight", (hd,), T_F32, None), (p + "attn_k_norm.weight", (hd,), T_F32, None)]
        out += [(p + "ffn_norm.weight", (e,), T_F32, None),
                (p + "ffn_gate.weight", (c["n_ff"], e), T_F16, 0.02),
                (p + "ffn_up.weight", (c["n_ff"], e), T_F16, 0.02),
                (p + "ffn_down.weight", (e, c["n_ff"]), T_F16, 0.02)]
    out.append(("output_norm.weight", (e,), T_F32, None))
    if not c["tied"]:
        out.append(("output.weight", (c["n_vocab"], e), T_F16, 0.02))
    return out


def llama3_freq_factors(hd, base):
    # Llama 3.1/3.2 RoPE scaling (factor 32, low 1, high 4, original context 8192), as the
    # checkpoint's rope_scaling block defines it.
    factor, low, high, old = 32.0, 1.0, 4.0, 8192
    out = []
    for i in range(0, hd, 2):
        freq = 1.0 / base ** (i / hd)
        wavelen = 2 * np.pi / freq
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, np.float32)


# {arch}.KEY (u32) <- SHAPES field
HPARAMS_U32 = [("context_length", "n_ctx"), ("embedding_length", "n_embd"), ("block_count", "n_layer"),
               ("feed_forward_length", "n_ff"), ("attention.head_count", "n_head"),
               ("attention.head_count_kv", "n_kv"), ("attention.key_length", "head_dim"),
               ("attention.value_length", "head_dim"), ("rope.dimension_count", "head_dim"),
               ("vocab_size", "n_vocab")]


def word_pieces(n):
    """n pieces "\u2581a", "\u2581b", ..., "\u2581zz", "\u2581aaa", ...: shortest first, every prefix of a
    piece is a piece. SentencePiece merging then turns the text of any piece back into that piece, so
    the text a model generates re-tokenizes into the tokens it generated (as with a real vocabulary):
    a chat client resending the reply hits the KV blocks computed while generating it."""
    out, level = [], ["\u2581"]
    while len(out) < n:
        level = [p + ch for p in level for ch in "abcdefghijklmnopqrstuvwxyz"]
        out += level[:n - len(out)]
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SHAPES:
        sys.exit(f"usage: make_random_model.py {{{'|'.join(SHAPES)}}} OUT.gguf")
    name, path = sys.argv[1], sys.argv[2]
    c = SHAPES[name]
    a = c["arch"] + "."
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    pieces += word_pieces(c["n_vocab"] - len(pieces))
    types = [2, 3, 3] + [6] * 256 + [1] * (c["n_vocab"] - 259)
    meta = [
        kv("general.architecture", STR, c["arch"]),
        kv("general.name", STR, f"random {name}"),
        kv("general.file_type", U32, 1),
    ] + [kv(a + key, U32, c[field]) for key, field in HPARAMS_U32] + [
        kv(a + "attention.layer_norm_rms_epsilon", F32, c["eps"]),
        kv(a + "rope.freq_base", F32, c["rope_base"]),
        kv("tokenizer.ggml.model", STR, "llama"),
        kv("tokenizer.ggml.tokens", ARR, pieces, STR),
        kv("tokenizer.ggml.scores", ARR, -np.arange(c["n_vocab"], dtype=np.float32), F32),
        kv("tokenizer.ggml.token_type", ARR, types, I32),
        kv("tokenizer.ggml.bos_token_id", U32, 1),
        kv("tokenizer.ggml.eos_token_id", U32, 2),
        kv("tokenizer.ggml.add_bos_token", BOOL, True),
    ]
    ts = tensors(c)
    head = [b"GGUF", struct.pack("<IQQ", 3, len(ts), len(meta))] + meta
    off = 0
    for tname, shape, t, _ in ts:
        n = int(np.prod(shape))
        head += [s(tname), struct.pack("<I", len(shape)), b"".join(struct.pack("<Q", d) for d in reversed(shape)),
                 struct.pack("<IQ", t, off)]
        off += (n * (2 if t == T_F16 else 4) + 31) // 32 * 32
    head = b"".join(head)
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(head + b"\0" * ((32 - len(head) % 32) % 32))
        for tname, shape, t, scale in ts:
            if t == T_F32:
                data = (llama3_freq_factors(c["head_dim"], c["rope_base"]) if tname == "rope_freqs.weight"
                        else np.ones(shape, np.float32) + 0.01 * rng.standard_normal(shape, np.float32))
                b = data.astype(np.float32).tobytes()
            else:
                b = (scale * rng.standard_normal(shape, np.float32)).astype(np.float16).tobytes()
            f.write(b + b"\0" * ((32 - len(b) % 32) % 32))
    print(f"make_random_model: wrote {path} ({name}, {off / 2**30:.2f} GiB of F16 tensors)")


if __name__ == "__main__":
    main()
