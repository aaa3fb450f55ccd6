"""Checks the reference itself against llama.cpp: the PyTorch model (reference_model.py, reading
files with gguf_io.py) on GGUF files that llama.cpp's quantizer wrote, against the logits
llama.cpp's own forward pass produced for them (tests/data/llama.cpp/*.logits.json).
Exit status 0 when every file agrees within its tolerance; prints one line per file."""
import json
import os
import sys

import numpy as np
import torch

import gguf_io as g
from reference_model import Model

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "llama.cpp")
# The reference reads F16 and Q8_0; llama.cpp runs F16 weights with f16 activations, so its
# logits differ from the float64 reference by ~1e-3 there.
FILES = {"tiny-llama-F16.gguf": 5e-3, "tiny-llama-Q8_0.gguf": 8e-2, "tiny-llama32-Q8_0.gguf": 8e-2,
         "tiny-qwen3-Q8_0.gguf": 8e-2}


def main():
    torch.set_num_threads(1)
    ok = True
    for name, tol in FILES.items():
        path = os.path.join(DATA, name)
        with open(path + ".logits.json") as f:
            ref = json.load(f)
        model = Model(g.Reader(path), kv_f16=True)
        with torch.no_grad():
            ours = model.logits(ref["prompt"]).numpy()
        theirs = np.array(ref["logits"])
        d = np.abs(ours - theirs).max()
        first = np.abs(ours[0] - theirs[0]).max()
        good = d <= tol
        ok &= good
        print(f"{name}: max |reference - llama.cpp| {d:.2e} (first position {first:.2e}), tolerance {tol:.0e}: "
              f"{'ok' if good else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
