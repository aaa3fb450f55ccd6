"""Trains the bundled demo model: tokenizer, then a small Llama on the Brown corpus, on CPU.

Usage: train.py DATA_DIR OUT_DIR [--minutes M | --steps N] [--threads N]
DATA_DIR holds train.txt / valid.txt (prepare.py). OUT_DIR receives a Hugging Face style
checkpoint (config.json, model.safetensors, tokenizer.json, tokenizer_config.json) whenever the
validation loss is measured, and train_log.json with the run's numbers.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch

import bpe
import safetensors_io
from model import Llama

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 768,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 32,
    "hidden_act": "silu",
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "vocab_size": 4096,
    "tie_word_embeddings": True,
    "bos_token_id": 0,
    "eos_token_id": 0,
    "torch_dtype": "float32",
}
CHATML = ("{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SEQ, BATCH = 256, 16


def encode_docs(tok, path):
    with open(path, encoding="utf-8") as f:
        docs = f.read().split("\n\n")
    ids = []
    for d in docs:
        if d.strip():
            ids.append(0)  # <|endoftext|> starts every document (it is also BOS)
            ids.extend(tok.encode(d))
    return np.array(ids, dtype=np.int64)


def export(model, tok_json, out, log):
    os.makedirs(out, exist_ok=True)
    safetensors_io.save(model.state_dict_hf(), os.path.join(out, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({**CONFIG, "_name_or_path": "tandem-demo"}, f, indent=2)  # general.name in the GGUF
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok_json, f, ensure_ascii=False)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": True,
                   "add_eos_token": False, "chat_template": CHATML, "model_max_length": CONFIG["max_position_embeddings"],
                   "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
    with open(os.path.join(out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--steps", type=int, default=0,
                    help="fixed number of steps (reproducible); default: as many as fit in --minutes")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(a.threads)

    t0 = time.time()
    with open(os.path.join(a.data, "train.txt"), encoding="utf-8") as f:
        text = f.read()
    vocab, merges = bpe.train(text, CONFIG["vocab_size"])
    assert len(vocab) == CONFIG["vocab_size"], len(vocab)
    tok = bpe.Tokenizer(vocab, merges)
    tok_json = bpe.hf_tokenizer_json(vocab, merges)
    train_ids = encode_docs(tok, os.path.join(a.data, "train.txt"))
    valid_ids = encode_docs(tok, os.path.join(a.data, "valid.txt"))
    print(f"tokenizer: {len(vocab)} tokens, {len(merges)} merges in {time.time() - t0:.0f} s; "
          f"{len(train_ids)} training tokens, {len(valid_ids)} validation tokens", flush=True)

    model = Llama(CONFIG)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
    rng = np.random.default_rng(0)

    def batch(ids, n):
        starts = rng.integers(0, len(ids) - SEQ - 1, n)
        x = np.stack([ids[s:s + SEQ + 1] for s in starts])
        return torch.from_numpy(x[:, :-1]), torch.from_numpy(x[:, 1:])

    vrng = np.random.default_rng(1)
    vstarts = vrng.integers(0, len(valid_ids) - SEQ - 1, 24)
    vx = np.stack([valid_ids[s:s + SEQ + 1] for s in vstarts])

    @torch.no_grad()
    def valid_loss():
        model.eval()
        losses = []
        for i in range(0, len(vx), 8):
            x = torch.from_numpy(vx[i:i + 8, :-1])
            y = torch.from_numpy(vx[i:i + 8, 1:])
            losses.append(float(torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())))
        model.train()
        return sum(losses) / len(losses)

    budget = a.minutes * 60
    start = time.time()
    total = a.steps if a.steps > 0 else None
    warmup, step, log = 50, 0, {"params": n_params, "config": CONFIG, "evals": []}
    train_loss = float("nan")
    while True:
        if total is None and step == 10:  # fix the schedule from the measured speed
            per_step = (time.time() - start) / 10
            total = max(100, int(budget / per_step))
            print(f"{per_step:.2f} s/step: {total} steps planned", flush=True)
        horizon = total or 10**9
        lr = 2e-3 * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / horizon))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(train_ids, BATCH)
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        train_loss = float(loss) if step == 1 else 0.98 * train_loss + 0.02 * float(loss)
        done = total is not None and step >= total
        if step % 20 == 0:
            print(f"step {step}/{total} loss {train_loss:.3f} lr {lr:.2e} {time.time() - start:.0f} s", flush=True)
        if step % 200 == 0 or done:
            v = valid_loss()
            log["evals"].append({"step": step, "train_loss": train_loss, "valid_loss": v,
                                 "seconds": time.time() - start, "tokens": step * BATCH * SEQ})
            log.update(steps=step, tokens=step * BATCH * SEQ, seconds=time.time() - start,
                       final_train_loss=train_loss, final_valid_loss=v, batch=BATCH, seq=SEQ,
                       train_tokens=int(len(train_ids)), valid_tokens=int(len(valid_ids)))
            export(model, tok_json, a.out, log)
            sample = tok.decode(model.generate(tok.encode("The man"), 30)[2:])
            print(f"step {step}: valid loss {v:.3f}; sample: The man{sample!r}", flush=True)
        if done:
            break
    print(f"done: {step} steps, {n_params} parameters, valid loss {log['final_valid_loss']:.3f}", flush=True)


if __name__ == "__main__":
    main()
