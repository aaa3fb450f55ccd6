#!/usr/bin/python3
"""Writes a tiny random-weight llama-architecture GGUF (F16 matrices, F32 norms).

An independent GGUF writer (plain struct packing, no tandem code), so files it makes also
check tandem's reader. Usage: make_tiny_llama.py OUT.gguf [--seed N]
"""
import struct
import sys

import numpy as np

DIM, LAYERS, HEADS, KV_HEADS, FFN, VOCAB, CTX = 256, 2, 4, 2, 512, 256, 512
ALIGN = 32
T_U32, T_F32, T_STR, T_ARR, T_I32 = 4, 6, 8, 9, 5
F32, F16 = 0, 1


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gguf_str(key) + struct.pack("<I", vtype)
    if vtype == T_U32:
        out += struct.pack("<I", value)
    elif vtype == T_F32:
        out += struct.pack("<f", value)
    elif vtype == T_STR:
        out += gguf_str(value)
    elif vtype == T_ARR:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        for it in items:
            if etype == T_STR:
                out += gguf_str(it)
            elif etype == T_F32:
                out += struct.pack("<f", it)
            elif etype == T_I32:
                out += struct.pack("<i", it)
    return out


def main():
    out_path = sys.argv[1]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--seed" else 1234
    rng = np.random.default_rng(seed)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(VOCAB - 3)]
    meta = [
        kv("general.architecture", T_STR, "llama"),
        kv("general.name", T_STR, "tandem tiny llama (random weights)"),
        kv("general.file_type", T_U32, 1),
        kv("llama.context_length", T_U32, CTX),
        kv("llama.embedding_length", T_U32, DIM),
        kv("llama.block_count", T_U32, LAYERS),
        kv("llama.feed_forward_length", T_U32, FFN),
        kv("llama.attention.head_count", T_U32, HEADS),
        kv("llama.attention.head_count_kv", T_U32, KV_HEADS),
        kv("llama.rope.dimension_count", T_U32, DIM // HEADS),
        kv("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5),
        kv("tokenizer.ggml.model", T_STR, "llama"),
        kv("tokenizer.ggml.tokens", T_ARR, (T_STR, tokens)),
        kv("tokenizer.ggml.scores", T_ARR, (T_F32, [0.0] * VOCAB)),
        kv("tokenizer.ggml.token_type", T_ARR, (T_I32, [2, 3, 3] + [6] * (VOCAB - 3))),
        kv("tokenizer.ggml.bos_token_id", T_U32, 1),
        kv("tokenizer.ggml.eos_token_id", T_U32, 2),
    ]
    kv_dim = DIM // HEADS * KV_HEADS
    tensors = [("token_embd.weight", (DIM, VOCAB), F16)]
    for i in range(LAYERS):
        p = f"blk.{i}."
        tensors += [
            (p + "attn_norm.weight", (DIM,), F32),
            (p + "attn_q.weight", (DIM, DIM), F16),
            (p + "attn_k.weight", (DIM, kv_dim), F16),
            (p + "attn_v.weight", (DIM, kv_dim), F16),
            (p + "attn_output.weight", (DIM, DIM), F16),
            (p + "ffn_norm.weight", (DIM,), F32),
            (p + "ffn_gate.weight", (DIM, FFN), F16),
            (p + "ffn_up.weight", (DIM, FFN), F16),
            (p + "ffn_down.weight", (FFN, DIM), F16),
        ]
    tensors += [("output_norm.weight", (DIM,), F32), ("output.weight", (DIM, VOCAB), F16)]

    infos, blobs, offset = b"", [], 0
    for name, shape, t in tensors:
        n = int(np.prod(shape))
        if name.endswith("norm.weight"):
            data = (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)
        else:
            data = (rng.standard_normal(n) * 0.05).astype(np.float16 if t == F16 else np.float32)
        raw = data.tobytes()
        infos += gguf_str(name) + struct.pack("<I", len(shape))
        infos += b"".join(struct.pack("<Q", d) for d in shape)
        infos += struct.pack("<IQ", t, offset)
        pad = (-len(raw)) % ALIGN
        blobs.append(raw + b"\0" * pad)
        offset += len(raw) + pad

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta) + infos
    head += b"\0" * ((-len(head)) % ALIGN)
    with open(out_path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main()
