"""Writes tiny random-weight GGUF models of every supported variant, in F32, F16, Q8_0 and Q4_0, and
the reference outputs for each (reference_model.py on the weights read back by gguf_io.py):
logits at every position of a fixed prompt, then 32 greedy tokens with the logits before each.
Usage: make_models.py OUT_DIR   -> OUT_DIR/*.gguf and OUT_DIR/manifest.json"""
import json
import os
import sys

import numpy as np
import torch

import gguf_io as g
from reference_model import Model

N_EMBD, N_LAYER, N_FF, N_VOCAB, N_CTX = 64, 2, 128, 320, 256

VARIANTS = {
    # name: (arch, n_head, n_kv, head_dim, tied, extra)
    "llama-gqa": ("llama", 4, 2, 16, False, {}),
    "llama-tied": ("llama", 4, 2, 16, True, {}),
    "llama-mha": ("llama", 4, 4, 16, False, {}),
    "llama-rope-linear": ("llama", 4, 2, 16, False, {"linear": 2.0}),
    "llama3-freqs": ("llama", 4, 2, 16, True, {"freqs": True}),
    "qwen2-bias": ("qwen2", 4, 2, 16, True, {"bias": True}),
    "qwen2-yarn": ("qwen2", 4, 2, 16, False, {"bias": True, "yarn": 4.0}),
    "qwen3-qknorm": ("qwen3", 4, 2, 32, False, {"qknorm": True}),
}
TYPES = {"f32": g.T_F32, "f16": g.T_F16, "q8_0": g.T_Q8_0, "q4_0": g.T_Q4_0}


def vocab(w):
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    letters = "abcdefghijklmnopqrstuvwxyz"
    i = 0
    while len(tokens) < N_VOCAB:
        t = ("\u2581" if i % 2 == 0 else "") + letters[i % 26] + letters[(i // 26) % 26]
        if t not in tokens:
            tokens.append(t)
            types.append(1)
        i += 1
    w.add("tokenizer.ggml.model", g.STR, "llama")
    w.add("tokenizer.ggml.tokens", g.ARR, tokens, g.STR)
    w.add("tokenizer.ggml.scores", g.ARR, [-float(i) for i in range(N_VOCAB)], g.F32)
    w.add("tokenizer.ggml.token_type", g.ARR, types, g.I32)
    w.add("tokenizer.ggml.bos_token_id", g.U32, 1)
    w.add("tokenizer.ggml.eos_token_id", g.U32, 2)


def make(path, name, ttype, seed):
    arch, n_head, n_kv, hd, tied, extra = VARIANTS[name]
    rng = np.random.default_rng(seed)
    a = arch + "."
    w = g.Writer()
    w.add("general.architecture", g.STR, arch)
    w.add("general.name", g.STR, f"reference {name}")
    w.add(a + "context_length", g.U32, N_CTX)
    w.add(a + "embedding_length", g.U32, N_EMBD)
    w.add(a + "block_count", g.U32, N_LAYER)
    w.add(a + "feed_forward_length", g.U32, N_FF)
    w.add(a + "attention.head_count", g.U32, n_head)
    w.add(a + "attention.head_count_kv", g.U32, n_kv)
    w.add(a + "attention.layer_norm_rms_epsilon", g.F32, 1e-5)
    w.add(a + "rope.freq_base", g.F32, 10000.0 if arch == "llama" else 1000000.0)
    w.add(a + "rope.dimension_count", g.U32, hd)
    if hd != N_EMBD // n_head:
        w.add(a + "attention.key_length", g.U32, hd)
        w.add(a + "attention.value_length", g.U32, hd)
    if "linear" in extra:
        w.add(a + "rope.scaling.type", g.STR, "linear")
        w.add(a + "rope.scaling.factor", g.F32, extra["linear"])
    if "yarn" in extra:
        w.add(a + "rope.scaling.type", g.STR, "yarn")
        w.add(a + "rope.scaling.factor", g.F32, extra["yarn"])
        w.add(a + "rope.scaling.original_context_length", g.U32, 64)
    vocab(w)
    mat = lambda rows, cols, std: rng.normal(0, std, (rows, cols)).astype(np.float32)
    vec = lambda n, mean, std: (mean + rng.normal(0, std, n)).astype(np.float32)
    w.add_tensor("token_embd.weight", mat(N_VOCAB, N_EMBD, 0.5), ttype)
    if not tied:
        w.add_tensor("output.weight", mat(N_VOCAB, N_EMBD, 0.4), ttype)
    w.add_tensor("output_norm.weight", vec(N_EMBD, 1.0, 0.1), g.T_F32)
    if extra.get("freqs"):
        w.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, hd // 2).astype(np.float32), g.T_F32)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", vec(N_EMBD, 1.0, 0.1), g.T_F32)
        w.add_tensor(p + "attn_q.weight", mat(n_head * hd, N_EMBD, 0.25), ttype)
        w.add_tensor(p + "attn_k.weight", mat(n_kv * hd, N_EMBD, 0.25), ttype)
        w.add_tensor(p + "attn_v.weight", mat(n_kv * hd, N_EMBD, 0.2), ttype)
        if extra.get("bias"):
            w.add_tensor(p + "attn_q.bias", vec(n_head * hd, 0.0, 0.2), g.T_F32)
            w.add_tensor(p + "attn_k.bias", vec(n_kv * hd, 0.0, 0.2), g.T_F32)
            w.add_tensor(p + "attn_v.bias", vec(n_kv * hd, 0.0, 0.2), g.T_F32)
        if extra.get("qknorm"):
            w.add_tensor(p + "attn_q_norm.weight", vec(hd, 1.0, 0.2), g.T_F32)
            w.add_tensor(p + "attn_k_norm.weight", vec(hd, 1.0, 0.2), g.T_F32)
        w.add_tensor(p + "attn_output.weight", mat(N_EMBD, n_head * hd, 0.15), ttype)
        w.add_tensor(p + "ffn_norm.weight", vec(N_EMBD, 1.0, 0.1), g.T_F32)
        w.add_tensor(p + "ffn_gate.weight", mat(N_FF, N_EMBD, 0.2), ttype)
        w.add_tensor(p + "ffn_up.weight", mat(N_FF, N_EMBD, 0.2), ttype)
        w.add_tensor(p + "ffn_down.weight", mat(N_EMBD, N_FF, 0.15), ttype)
    w.write(path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    models = []
    for vi, name in enumerate(VARIANTS):
        for tname, ttype in TYPES.items():
            file = f"{name}-{tname}.gguf"
            path = os.path.join(out, file)
            make(path, name, ttype, seed=100 + vi)  # same weights in every type
            model = Model(g.Reader(path), kv_f16=tname != "f32")  # as tandem runs them
            prompt = [1] + list(np.random.default_rng(7 + vi).integers(3, N_VOCAB, 11))
            with torch.no_grad():
                logits = model.logits(prompt)
                seq = list(prompt)
                greedy, greedy_logits = [], []
                for _ in range(32):
                    last = model.logits(seq)[-1]
                    greedy_logits.append(last.tolist())
                    nxt = int(last.argmax())
                    greedy.append(nxt)
                    seq.append(nxt)
            models.append({"file": file, "variant": name, "dtype": tname, "prompt": [int(x) for x in prompt],
                           "logits": logits.tolist(), "greedy": greedy, "greedy_logits": greedy_logits})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"models": models}, f)


if __name__ == "__main__":
    main()
