#!/usr/bin/env python3
"""tokenizer_texts.py OUTDIR: write the tokenizer benchmark inputs, 1 MB each (deterministic):
english.txt: English prose (the Python language reference topics shipped with python3, stripped of
  markup), mixed.txt: the lines of tests/data/tokenizer/corpus.jsonl (many scripts, code, emoji,
  numbers) shuffled with a fixed seed and repeated."""
import glob, json, os, random, re, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
size = 1 << 20
src = sorted(glob.glob("/usr/lib/python3*/pydoc_data/topics.py"))
if not src:
    sys.exit("tokenizer_texts.py: needs python3's pydoc_data/topics.py for the English text")
ns = {}
exec(open(src[-1], encoding="utf-8").read(), ns)
english = "\n\n".join(ns["topics"][k] for k in sorted(ns["topics"]))
english = re.sub(r"\*\*|``|\*", "", english)
text = (english * (size // len(english) + 1))[:size]
open(os.path.join(out, "english.txt"), "w", encoding="utf-8").write(text)

here = os.path.dirname(os.path.abspath(__file__))
lines = [json.loads(l)["text"] for l in open(os.path.join(here, "..", "tests", "data", "tokenizer", "corpus.jsonl"), encoding="utf-8")]
lines = [l for l in lines if 0 < len(l) < 400]  # leave out the very long words
rng = random.Random(7)
parts, n = [], 0
while n < size:
    rng.shuffle(lines)
    for l in lines:
        parts.append(l)
        n += len(l.encode("utf-8")) + 1
        if n >= size:
            break
mixed = "\n".join(parts).encode("utf-8")[:size].decode("utf-8", "ignore")
open(os.path.join(out, "mixed.txt"), "w", encoding="utf-8").write(mixed)
