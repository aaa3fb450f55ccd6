"""Perplexity the way llama.cpp's perplexity tool computes it, on the PyTorch reference model.

Usage: perplexity.py MODEL.gguf CTX [CHUNKS] < IDS
IDS: the text's token ids (whitespace-separated, as `tandem tokenize` prints them, BOS first when
the model adds one). The ids are cut into non-overlapping windows of CTX tokens; in each window
the first token is replaced by BOS (when the model adds one), the window is evaluated on its own
and the logits at positions CTX/2 .. CTX-2 are scored against the next token. CHUNKS, when
given, scores only the first CHUNKS windows (tandem perplexity --chunks).
Prints one line: PPL = <value>, and the per-window running values before it."""
import math
import sys

import torch

import gguf_io as g
from reference_model import Model


def main():
    path, n_ctx = sys.argv[1], int(sys.argv[2])
    ids = [int(t) for t in sys.stdin.read().split()]
    reader = g.Reader(path)
    add_bos = bool(reader.meta.get("tokenizer.ggml.add_bos_token", False))
    bos = reader.meta.get("tokenizer.ggml.bos_token_id")
    model = Model(reader, kv_f16=True)
    n_chunk = len(ids) // n_ctx
    if len(sys.argv) > 3:
        n_chunk = min(n_chunk, int(sys.argv[3]))
    if len(ids) < 2 * n_ctx:
        sys.exit(f"perplexity.py: {len(ids)} ids, need at least {2 * n_ctx}")
    total, count, running = 0.0, 0, []
    torch.set_num_threads(1)
    for c in range(n_chunk):
        window = ids[c * n_ctx:(c + 1) * n_ctx]
        targets = list(window[1:])
        if add_bos and bos is not None:
            window[0] = bos
        with torch.no_grad():
            logp = torch.log_softmax(model.logits(window).to(torch.float64), dim=-1)
        for j in range(n_ctx // 2, n_ctx - 1):
            total -= float(logp[j, targets[j]])
            count += 1
        running.append(math.exp(total / count))
    print(",".join(f"[{i + 1}]{v:.4f}" for i, v in enumerate(running)))
    print(f"PPL = {math.exp(total / count):.6f}")


if __name__ == "__main__":
    main()
