#!/usr/bin/env python3
"""Checks that the shipped tokenizer.json, loaded by the JavaScript reference tokenizers
(transformers.js's @huggingface/tokenizers and @lenml/tokenizers, run with Node), encodes exactly
like the Python BPE encoder the model was trained with: every held-out verse, a sample of training
verses and the whole held-out text; decoding round-trips; the chat template renders as expected.

Usage: check_tokenizer.py [--model models/kjv-mini] [--work tools/train/work] [--node-dir DIR]
DIR must hold node_modules with @huggingface/tokenizers and @lenml/tokenizers
(npm install @huggingface/tokenizers@0.2 @lenml/tokenizers)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "kjv-mini"))
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--node-dir", default=os.path.join(HERE, "node-check"))
    a = ap.parse_args()
    tok = bpe.Tokenizer.load_merges(os.path.join(a.work, "merges.json"))
    held = open(os.path.join(a.work, "heldout.txt")).read()
    train = open(os.path.join(a.work, "train.txt")).read().splitlines(keepends=True)
    lines = held.splitlines(keepends=True) + train[::50] + [
        held, "", " ", "\n\n", "In the beginning", "  two  spaces\tand a tab\n", "It's 12:30; isn't it? (yes!)",
        "aaaaaaaaaaaa", "LORD LORD LORD", "unto them which were", "Nebuchadnezzar's"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as tf:
        json.dump(lines, tf)
    env = dict(os.environ, NODE_PATH=os.path.join(a.node_dir, "node_modules"))
    script = os.path.join(a.node_dir, "check_tokenizer.mjs")
    # ES module resolution looks for node_modules next to the script, so run a copy from there.
    with open(script, "w") as f:
        f.write(open(os.path.join(HERE, "check_tokenizer.mjs")).read())
    r = subprocess.run(["node", script, os.path.abspath(a.model), tf.name], capture_output=True, text=True, env=env)
    os.unlink(tf.name)
    if r.returncode:
        raise SystemExit("node failed: " + r.stderr)
    js = json.loads(r.stdout)
    bad = 0
    for i, s in enumerate(lines):
        want = tok.encode(s, bos=True)
        for k in ("hf", "lenml"):
            if js[k][i] != want:
                bad += 1
                print("MISMATCH %s on %r:\n  py %s\n  js %s" % (k, s[:60], want[:20], js[k][i][:20]))
            if js[k + "_decoded"][i] != s:
                bad += 1
                print("DECODE MISMATCH %s on %r -> %r" % (k, s[:60], js[k + "_decoded"][i][:60]))
    want_chat = ("<bos><start_of_turn>user\nWho made the heaven and the earth?<end_of_turn>\n"
                 "<start_of_turn>model\nGod created the heaven and the earth.<end_of_turn>\n"
                 "<start_of_turn>user\nAnd then?<end_of_turn>\n<start_of_turn>model\n")
    if js["chat"] != want_chat:
        bad += 1
        print("CHAT TEMPLATE: %r" % js["chat"])
    want_ids = [bpe.BOS]
    for part in want_chat[len("<bos>"):].split("<start_of_turn>")[1:]:
        body, rest = (part.split("<end_of_turn>") + [None])[:2]
        want_ids += [bpe.SOT] + tok.encode(body)
        if rest is not None:
            want_ids += [bpe.EOT] + tok.encode(rest)
    if js["chat_ids"] != want_ids:
        bad += 1
        print("CHAT IDS:\n  py %s\n  js %s" % (want_ids, js["chat_ids"]))
    n_tok = sum(len(x) for x in js["hf"])
    print("%d strings (%d tokens) x 2 JavaScript tokenizers: %d mismatches" % (len(lines), n_tok, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
