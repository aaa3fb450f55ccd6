"""Writes tiny random Hugging Face checkpoints (config.json, model.safetensors or two shards with
model.safetensors.index.json, tokenizer.json, tokenizer_config.json) for LlamaForCausalLM (GQA,
separate lm_head), Qwen2ForCausalLM (q/k/v biases, tied) and Qwen3ForCausalLM (q/k norms, head_dim
32 != hidden/heads), and the logits of a forward pass with Hugging Face's semantics (rotate-half
RoPE on the checkpoint's own q/k layout) for a fixed list of token ids.
Usage: make_hf_checkpoint.py OUT_DIR  ->  OUT_DIR/<arch>/ and OUT_DIR/expected.json"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

H, L, FF, V = 64, 2, 128, 300
IDS = [5, 17, 42, 99, 3, 250, 7, 64]
ARCHS = {
    "llama": dict(cls="LlamaForCausalLM", heads=4, kv=2, head_dim=16, bias=False, qknorm=False, tied=False, sharded=True),
    "qwen2": dict(cls="Qwen2ForCausalLM", heads=4, kv=2, head_dim=16, bias=True, qknorm=False, tied=True, sharded=False),
    "qwen3": dict(cls="Qwen3ForCausalLM", heads=4, kv=2, head_dim=32, bias=False, qknorm=True, tied=False, sharded=False),
}


def save_safetensors(tensors, path):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        b = tensors[name].astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def byte_level_tokenizer():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for _, c in sorted(zip(bs, cs))]
    vocab = {c: i for i, c in enumerate(chars)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return {
        "version": "1.0",
        "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True,
                          "single_word": False, "lstrip": False, "rstrip": False, "normalized": False}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


def rms(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def forward(t, a, ids, theta=10000.0, eps=1e-6):
    T = len(ids)
    hd, nh, nkv = a["head_dim"], a["heads"], a["kv"]
    x = t["model.embed_tokens.weight"][ids]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(L):
        p = f"model.layers.{i}."
        h = rms(x, t[p + "input_layernorm.weight"], eps)
        lin = lambda n: h @ t[p + f"self_attn.{n}.weight"].T + (t[p + f"self_attn.{n}.bias"] if a["bias"] else 0)
        q, k, v = lin("q_proj").view(T, nh, hd), lin("k_proj").view(T, nkv, hd), lin("v_proj").view(T, nkv, hd)
        if a["qknorm"]:
            q, k = rms(q, t[p + "self_attn.q_norm.weight"], eps), rms(k, t[p + "self_attn.k_norm.weight"], eps)
        q = q * cos[:, None] + rotate_half(q) * sin[:, None]
        k = k * cos[:, None] + rotate_half(k) * sin[:, None]
        outs = []
        for hh in range(nh):
            att = (q[:, hh] @ k[:, hh // (nh // nkv)].T) / math.sqrt(hd) + mask
            outs.append(att.softmax(-1) @ v[:, hh // (nh // nkv)])
        x = x + torch.cat(outs, -1) @ t[p + "self_attn.o_proj.weight"].T
        h = rms(x, t[p + "post_attention_layernorm.weight"], eps)
        x = x + (torch.nn.functional.silu(h @ t[p + "mlp.gate_proj.weight"].T) * (h @ t[p + "mlp.up_proj.weight"].T)) @ t[p + "mlp.down_proj.weight"].T
    out = t["model.embed_tokens.weight"] if a["tied"] else t["lm_head.weight"]
    return rms(x, t["model.norm.weight"], eps) @ out.T


def main():
    root = sys.argv[1]
    expected = {}
    for name, a in ARCHS.items():
        rng = np.random.default_rng(len(name))
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        hd, nh, nkv = a["head_dim"], a["heads"], a["kv"]
        w = {"model.embed_tokens.weight": rng.normal(0, 0.5, (V, H)), "model.norm.weight": 1 + rng.normal(0, 0.1, H)}
        if not a["tied"]:
            w["lm_head.weight"] = rng.normal(0, 0.3, (V, H))
        for i in range(L):
            p = f"model.layers.{i}."
            w[p + "input_layernorm.weight"] = 1 + rng.normal(0, 0.1, H)
            w[p + "post_attention_layernorm.weight"] = 1 + rng.normal(0, 0.1, H)
            w[p + "self_attn.q_proj.weight"] = rng.normal(0, 0.25, (nh * hd, H))
            w[p + "self_attn.k_proj.weight"] = rng.normal(0, 0.25, (nkv * hd, H))
            w[p + "self_attn.v_proj.weight"] = rng.normal(0, 0.2, (nkv * hd, H))
            w[p + "self_attn.o_proj.weight"] = rng.normal(0, 0.15, (H, nh * hd))
            if a["bias"]:
                for n, rows in (("q_proj", nh * hd), ("k_proj", nkv * hd), ("v_proj", nkv * hd)):
                    w[p + f"self_attn.{n}.bias"] = rng.normal(0, 0.2, rows)
            if a["qknorm"]:
                w[p + "self_attn.q_norm.weight"] = 1 + rng.normal(0, 0.2, hd)
                w[p + "self_attn.k_norm.weight"] = 1 + rng.normal(0, 0.2, hd)
            w[p + "mlp.gate_proj.weight"] = rng.normal(0, 0.2, (FF, H))
            w[p + "mlp.up_proj.weight"] = rng.normal(0, 0.2, (FF, H))
            w[p + "mlp.down_proj.weight"] = rng.normal(0, 0.15, (H, FF))
        w = {k: v.astype(np.float32) for k, v in w.items()}
        if a["sharded"]:
            names = sorted(w)
            half = len(names) // 2
            shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
            for f, ns in shards.items():
                save_safetensors({n: w[n] for n in ns}, os.path.join(d, f))
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {}, "weight_map": {n: f for f, ns in shards.items() for n in ns}}, f)
        else:
            save_safetensors(w, os.path.join(d, "model.safetensors"))
        cfg = {"architectures": [a["cls"]], "hidden_size": H, "intermediate_size": FF, "num_hidden_layers": L,
               "num_attention_heads": nh, "num_key_value_heads": nkv, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
               "max_position_embeddings": 256, "vocab_size": V, "tie_word_embeddings": a["tied"]}
        if hd != H // nh:
            cfg["head_dim"] = hd
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        tok = byte_level_tokenizer()
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(tok, f, ensure_ascii=False)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"eos_token": "<|endoftext|>", "add_bos_token": False,
                       "chat_template": "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"}, f)
        t = {k: torch.tensor(v, dtype=torch.float64) for k, v in w.items()}
        with torch.no_grad():
            expected[name] = {"ids": IDS, "logits": forward(t, a, torch.tensor(IDS)).tolist()}
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
