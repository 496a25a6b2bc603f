#!/usr/bin/env python3
"""Exports a trained checkpoint as the shipped kjv-mini model and computes the reference numbers
the C tests check against.

Usage: export.py [--work DIR] [--ckpt final.pt] [--out models/kjv-mini] [--data tests/data/kjv-mini]

Writes:
  OUT/ (HF folder): config.json, model.safetensors (matrices F16, norm vectors F32),
       tokenizer.json, tokenizer_config.json, generation_config.json, special_tokens_map.json
  OUT.gguf via convert_gguf.py
  DATA/heldout.tokens.txt: the evaluation windows (BOS + 255 held-out tokens each), one line
  DATA/expected.json and DATA/expected.env: perplexities and the greedy continuation, all computed
       from exactly the shipped weights (the files just written, read back)."""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import convert_gguf  # noqa: E402
import gemma3  # noqa: E402
import train  # noqa: E402

GREEDY_PROMPT = "And the LORD spake unto Moses, saying,"
GREEDY_NEW = 40


def read_gguf(path):
    """Minimal GGUF reader (independent of the writer): returns (kv dict, {name: f32 array in
    HF [out, in] shape})."""
    data = open(path, "rb").read()
    pos = [0]

    def rd(fmt):
        v = struct.unpack_from(fmt, data, pos[0])
        pos[0] += struct.calcsize(fmt)
        return v[0]

    def rstr():
        n = rd("<Q")
        s = data[pos[0]:pos[0] + n].decode("utf-8")
        pos[0] += n
        return s

    scal = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def rval(t):
        if t == 8:
            return rstr()
        if t == 9:
            et, n = rd("<I"), rd("<Q")
            return [rval(et) for _ in range(n)]
        return rd(scal[t])

    assert data[:4] == b"GGUF"
    pos[0] = 4
    ver, nt, nkv = rd("<I"), rd("<Q"), rd("<Q")
    assert ver == 3
    kv = {}
    for _ in range(nkv):
        k = rstr()
        kv[k] = rval(rd("<I"))
    infos = []
    for _ in range(nt):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        infos.append((name, ne, rd("<I"), rd("<Q")))
    align = kv.get("general.alignment", 32)
    base = pos[0] + (-pos[0]) % align
    out = {}
    for name, ne, t, off in infos:
        cnt = int(np.prod(ne))
        dt = {0: "<f4", 1: "<f2"}[t]
        a = np.frombuffer(data, dtype=dt, count=cnt, offset=base + off).astype(np.float32)
        out[name] = a.reshape(list(reversed(ne)))
    return kv, out


def gguf_to_model(path):
    """Builds the PyTorch model from the GGUF (norms stored as 1 + w: w = g - 1)."""
    kv, t = read_gguf(path)
    inv = {v: k for k, v in convert_gguf.LAYER_MAP.items()}
    sd = {}
    for name, a in t.items():
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        else:
            _, n, rest, _ = name.split(".")
            hf = "model.layers.%s.%s.weight" % (n, inv[rest])
        if hf.endswith("norm.weight"):
            a = a - np.float32(1.0)
        sd[hf] = torch.from_numpy(a.copy())
    return kv, sd


def greedy(model, ids, n):
    ids = list(ids)
    margins = []
    with torch.no_grad():
        for _ in range(n):
            lg = model(torch.tensor([ids]))[0, -1]
            top = torch.topk(lg, 2).values
            margins.append(float(top[0] - top[1]))
            ids.append(int(lg.argmax()))
    return ids, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--ckpt", default="final.pt")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", "kjv-mini"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "tests", "data", "kjv-mini"))
    ap.add_argument("--smoke", action="store_true", help="skip the trained-model sanity checks")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = os.path.normpath(a.out)
    os.makedirs(out, exist_ok=True)
    os.makedirs(a.data, exist_ok=True)

    st = torch.load(os.path.join(a.work, a.ckpt))
    sd = st["model"]
    cfg = {k: v for k, v in train.CONFIG.items()}
    cfg["torch_dtype"] = "float16"
    tensors = {}
    n_params = 0
    for k, v in sd.items():
        v = v.detach().float().numpy()
        n_params += v.size
        if v.ndim == 2:
            if np.abs(v).max() >= 65504:
                raise SystemExit("%s does not fit F16" % k)
            tensors[k] = v.astype(np.float16)
        else:
            tensors[k] = v.astype(np.float32)
    gemma3.write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": bpe.BOS, "eos_token_id": [bpe.EOS, bpe.EOT], "pad_token_id": bpe.PAD,
               "do_sample": False}, open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    tok = bpe.Tokenizer.load_merges(os.path.join(a.work, "merges.json"))
    json.dump(tok.tokenizer_json(), open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump(bpe.Tokenizer.tokenizer_config(train.CTX * 4), open(os.path.join(out, "tokenizer_config.json"), "w"),
              indent=2)
    json.dump({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
               "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]},
              open(os.path.join(out, "special_tokens_map.json"), "w"), indent=2)
    gguf = out + ".gguf"
    convert_gguf.convert(out, gguf, "kjv-mini")

    # Everything below uses the files just written.
    windows = train.heldout_windows(a.work)
    with open(os.path.join(a.data, "heldout.tokens.txt"), "w") as f:
        f.write(",".join(str(t) for w in windows for t in w) + "\n")
    m64, _ = gemma3.load_hf(out, torch.float64)
    m32, _ = gemma3.load_hf(out, torch.float32)
    ppl64, n_scored = train.evaluate(m64, windows)
    ppl32, _ = train.evaluate(m32, windows)
    ppl_full, _ = train.evaluate(m64, windows, force_full=True)
    kv, gsd = gguf_to_model(gguf)
    mg = gemma3.Gemma3(cfg)
    mg.load_state_dict(gsd, strict=True)
    ppl_gguf, _ = train.evaluate(mg.double(), windows)
    print("held-out perplexity: f64 %.6f  f32 %.6f  gguf(f64) %.6f  sliding forced full %.6f" %
          (ppl64, ppl32, ppl_gguf, ppl_full))
    for x in (ppl32, ppl_gguf):
        assert abs(x / ppl64 - 1) < 1e-5, "f32/GGUF evaluations disagree"
    assert a.smoke or abs(ppl_full / ppl64 - 1) > 1e-3, "forced-full attention barely changes the perplexity"

    prompt_ids = tok.encode(GREEDY_PROMPT, bos=True)
    g_ids, margins = greedy(m64, prompt_ids, GREEDY_NEW)
    g32, _ = greedy(m32, prompt_ids, GREEDY_NEW)
    assert g32 == g_ids, "f32 and f64 greedy continuations differ"
    new = g_ids[len(prompt_ids):]
    text = tok.decode(new)
    print("greedy: %r -> %r (min top-2 margin %.4f)" % (GREEDY_PROMPT, text, min(margins)))

    chat_ids = [bpe.BOS, bpe.SOT] + tok.encode("user\nWho made the heaven and the earth?") + [bpe.EOT] + \
        tok.encode("\n") + [bpe.SOT] + tok.encode("model\n")
    c_ids, _ = greedy(m32, chat_ids, 60)
    c_new = c_ids[len(chat_ids):]
    if bpe.EOT in c_new:
        c_new = c_new[:c_new.index(bpe.EOT) + 1]
    chat_text = tok.decode(c_new, skip_special=False)
    print("chat: %r" % chat_text)

    # Tokenizer golden lines: every held-out verse (with its newline) and a few odd strings, with
    # the ids of the Python encoder (check_tokenizer.py shows transformers.js agrees) and BOS.
    held = open(os.path.join(a.work, "heldout.txt")).read().splitlines(keepends=True)
    extra = ["", " ", "In the beginning", "  two  spaces\tand a tab\n", "It's 12:30; isn't it? (yes!)",
             "aaaaaaaaaaaa", "Nebuchadnezzar's"]
    with open(os.path.join(a.data, "tokenize.in.jsonl"), "w") as fi, \
            open(os.path.join(a.data, "tokenize.ids.jsonl"), "w") as fo:
        for line in held + extra:
            fi.write(json.dumps({"text": line}) + "\n")
            fo.write(json.dumps({"ids": tok.encode(line, bos=True)}) + "\n")

    log = st.get("log", {})
    exp = {
        "model": "kjv-mini",
        "protocol": ("held-out books Ruth and Jude, tokenized without specials; the stream is cut into "
                     "consecutive pieces of ctx-1 tokens (the remainder is dropped); each window is BOS + piece "
                     "(heldout.tokens.txt holds the windows back to back); every window is evaluated from an "
                     "empty state at positions 0..ctx-1, and each window position i < ctx-1 predicts token i+1; "
                     "perplexity = exp(mean NLL over all predictions). Equals `mixlm perplexity MODEL --tokens "
                     "heldout.tokens.txt --ctx 256`."),
        "tokens_file": "heldout.tokens.txt",
        "ctx": train.CTX,
        "n_windows": len(windows),
        "n_scored": n_scored,
        "perplexity": ppl64,
        "perplexity_f32_forward": ppl32,
        "perplexity_gguf": ppl_gguf,
        "perplexity_sliding_forced_full": ppl_full,
        "forced_full_note": "same weights and RoPE bases; the sliding layers' window is lifted (equivalent to "
                            "config.json sliding_window >= ctx)",
        "greedy": {"prompt": GREEDY_PROMPT, "prompt_ids": prompt_ids, "n_new": GREEDY_NEW, "new_ids": new,
                   "text": text, "min_top2_margin": min(margins)},
        "chat_sample": {"user": "Who made the heaven and the earth?", "reply": chat_text},
        "n_params": n_params,
        "train_steps": log.get("steps"),
        "train_wall_s": log.get("wall_s"),
    }
    json.dump(exp, open(os.path.join(a.data, "expected.json"), "w"), indent=2)
    with open(os.path.join(a.data, "expected.env"), "w") as f:
        f.write("# written by tools/train/export.py; see expected.json\n")
        f.write("PPL=%.8f\nPPL_FORCED_FULL=%.8f\nCTX=%d\n" % (ppl64, ppl_full, train.CTX))
        assert "'" not in GREEDY_PROMPT
        f.write("GREEDY_PROMPT='%s'\n" % GREEDY_PROMPT)
        f.write("GREEDY_PROMPT_IDS=%s\n" % ",".join(map(str, prompt_ids)))
        f.write("GREEDY_NEW_IDS=%s\n" % ",".join(map(str, new)))
    print("wrote %s, %s, %s" % (out, gguf, a.data))


if __name__ == "__main__":
    main()
