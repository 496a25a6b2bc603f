#!/usr/bin/env python3
"""Checks tools/train/gemma3.py against the oracle: the tiny random Gemma 3 (window 8) HF folder
and the llama.cpp logits in tests/data/oracle. Proves the training architecture is the one mixlm
runs. Usage: check_oracle.py [REPO_ROOT]"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemma3  # noqa: E402


def main():
    torch.set_num_threads(1)
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    od = os.path.join(root, "tests", "data", "oracle")
    toks = [int(t) for t in open(os.path.join(od, "tiny-gemma3-swa8.tokens.txt")).read().split(",")]
    ref = np.fromfile(os.path.join(od, "tiny-gemma3-swa8.logits.f32"), dtype="<f4").reshape(len(toks), -1)
    ok = True
    for dt, tol in ((torch.float64, 1e-4), (torch.float32, 1e-4)):
        m, _ = gemma3.load_hf(os.path.join(od, "hf-tiny-gemma3-swa8"), dt)
        with torch.no_grad():
            lg = m(torch.tensor([toks])).double()[0].numpy()
            lf = m(torch.tensor([toks]), force_full=True).double()[0].numpy()
        d = np.abs(lg - ref).max()
        dfull = np.abs(lf - ref).max()
        agree = (lg.argmax(-1) == ref.argmax(-1)).mean()
        print("%s: max|diff| %.3g  argmax agree %.3f  (all-full variant: %.3g)" % (dt, d, agree, dfull))
        ok &= d < tol and dfull > 100 * tol
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
