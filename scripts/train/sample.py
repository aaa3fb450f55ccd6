"""Loads a checkpoint written by train.py and prints greedy (or sampled) continuations, to
check the model by itself and to compare with `tandem run` on the converted GGUF.
Usage: sample.py CHECKPOINT_DIR PROMPT [N] [--ids]"""
import json
import os
import sys

import torch

import bpe
import safetensors_io
from model import Llama


def load(ckpt):
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    m = Llama(cfg)
    sd = safetensors_io.load(os.path.join(ckpt, "model.safetensors"))
    m.embed_tokens.weight.data = torch.tensor(sd["model.embed_tokens.weight"])
    m.norm.weight.data = torch.tensor(sd["model.norm.weight"])
    for i, b in enumerate(m.layers):
        p = f"model.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            getattr(b, name).weight.data = torch.tensor(sd[p + "self_attn." + name + ".weight"])
        for name in ("gate_proj", "up_proj", "down_proj"):
            getattr(b, name).weight.data = torch.tensor(sd[p + "mlp." + name + ".weight"])
        b.input_layernorm.weight.data = torch.tensor(sd[p + "input_layernorm.weight"])
        b.post_attention_layernorm.weight.data = torch.tensor(sd[p + "post_attention_layernorm.weight"])
    with open(os.path.join(ckpt, "tokenizer.json")) as f:
        tj = json.load(f)
    vocab = sorted(tj["model"]["vocab"], key=lambda t: tj["model"]["vocab"][t])
    merges = [tuple(m.split(" ")) for m in tj["model"]["merges"]]
    return m.eval(), bpe.Tokenizer(vocab, merges)


def main():
    ckpt, prompt = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else 40
    model, tok = load(ckpt)
    ids = [0] + tok.encode(prompt)  # <|endoftext|> as BOS, as tandem adds it
    out = model.generate(ids, n)
    if "--ids" in sys.argv:
        print(" ".join(map(str, out[len(ids):])))
    else:
        print(prompt + tok.decode(out[len(ids):]))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
