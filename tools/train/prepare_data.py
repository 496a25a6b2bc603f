#!/usr/bin/env python3
"""Extracts the King James Bible from Debian's bible-kjv-text package (via the `bible` program
of the bible-kjv package), splits it into training text and held-out books, trains the byte-level
BPE tokenizer on the training text, and writes the tokenized streams.

Usage: prepare_data.py [--out DIR] [--vocab 4096]
Writes DIR/train.txt, DIR/heldout.txt, DIR/merges.json, DIR/train_ids.npy, DIR/train_verse_starts.npy,
DIR/heldout_ids.npy, DIR/train_verses.json."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

# Books held out of training (and of tokenizer training) for evaluation, as `bible` abbreviates them.
HELDOUT_BOOKS = ("Ruth", "Jude")


def read_kjv():
    """Returns [(book, chapter, verse, text)] for all 31,102 verses, in order."""
    out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout
    text = out.decode("ascii")
    verses = []
    for line in text.splitlines():
        m = re.match(r"^(\w+?)(\d+):(\d+) (.*)$", line)
        if not m:
            raise SystemExit("unexpected line from bible: %r" % line[:80])
        book, ch, vs, body = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4).strip()
        body = re.sub(r"\s+", " ", body)
        verses.append((book, ch, vs, body))
    return verses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "work"))
    ap.add_argument("--vocab", type=int, default=4096)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    verses = read_kjv()
    if len(verses) != 31102:
        raise SystemExit("expected 31102 verses, got %d" % len(verses))
    train_v = [v for v in verses if v[0] not in HELDOUT_BOOKS]
    held_v = [v for v in verses if v[0] in HELDOUT_BOOKS]
    train_txt = "".join(v[3] + "\n" for v in train_v)
    held_txt = "".join(v[3] + "\n" for v in held_v)
    assert train_txt.isascii() and held_txt.isascii()
    open(os.path.join(a.out, "train.txt"), "w").write(train_txt)
    open(os.path.join(a.out, "heldout.txt"), "w").write(held_txt)
    print("verses: train %d, held-out %d (%s)" % (len(train_v), len(held_v), ", ".join(HELDOUT_BOOKS)))

    t0 = time.time()
    merges = bpe.train(train_txt, a.vocab, log=print)
    tok = bpe.Tokenizer(merges)
    tok.save_merges(os.path.join(a.out, "merges.json"))
    print("tokenizer: %d tokens, %d merges, %.1fs" % (len(tok), len(merges), time.time() - t0))

    ids, starts = [], []
    for v in train_v:
        starts.append(len(ids))
        ids.extend(tok.encode(v[3] + "\n"))
    # Per-verse encoding equals whole-text encoding: no pre-token crosses a newline.
    assert ids == tok.encode(train_txt)
    hid = tok.encode(held_txt)
    assert tok.decode(hid) == held_txt and tok.decode(ids) == train_txt
    np.save(os.path.join(a.out, "train_ids.npy"), np.array(ids, dtype=np.int16))
    np.save(os.path.join(a.out, "train_verse_starts.npy"), np.array(starts, dtype=np.int64))
    np.save(os.path.join(a.out, "heldout_ids.npy"), np.array(hid, dtype=np.int16))
    json.dump([v[3] for v in train_v], open(os.path.join(a.out, "train_verses.json"), "w"))
    print("tokens: train %d (%.2f chars/token), held-out %d" % (len(ids), len(train_txt) / len(ids), len(hid)))


if __name__ == "__main__":
    main()
