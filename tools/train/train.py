#!/usr/bin/env python3
"""Trains the bundled kjv-mini model: a small Gemma 3 style decoder (5 sliding-window layers,
1 full-attention layer) on the King James Bible, on the CPU with one thread.

Usage: train.py [--work DIR] [--steps N|auto] [--budget-min M] [--resume]
Needs DIR from prepare_data.py. Writes DIR/ckpt.pt every 100 steps, DIR/final.pt at the end and
DIR/train_log.json (losses, step count, wall time). `--steps auto` times the first steps and
picks the step count that fits the budget; the chosen count is logged, and `--steps N` with that
count reproduces the run exactly (same seed, same batches)."""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import gemma3  # noqa: E402

CONFIG = {
    "architectures": ["Gemma3ForCausalLM"],
    "model_type": "gemma3_text",
    "vocab_size": 4096,
    "hidden_size": 256,
    "intermediate_size": 640,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 64,
    "query_pre_attn_scalar": 64,
    "rms_norm_eps": 1e-6,
    "rope_theta": 100000.0,
    "rope_local_base_freq": 10000.0,
    "rope_scaling": None,
    "sliding_window": 64,
    "sliding_window_pattern": 6,
    "layer_types": ["sliding_attention"] * 5 + ["full_attention"],
    "max_position_embeddings": 1024,
    "hidden_activation": "gelu_pytorch_tanh",
    "attn_logit_softcapping": None,
    "final_logit_softcapping": None,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "tie_word_embeddings": True,
    "initializer_range": 0.02,
    "pad_token_id": bpe.PAD,
    "eos_token_id": [bpe.EOS, bpe.EOT],
    "bos_token_id": bpe.BOS,
    "torch_dtype": "float32",
    "use_cache": True,
}
CTX = 256


class Batcher:
    """Deterministic batches: BOS + 255 tokens of the training stream starting at a verse, or
    (with probability chat_frac) a short chat transcript in the chat template's format."""

    def __init__(self, work, seed, chat_frac):
        self.ids = np.load(os.path.join(work, "train_ids.npy")).astype(np.int64)
        self.starts = np.load(os.path.join(work, "train_verse_starts.npy"))
        self.starts = self.starts[self.starts + CTX - 1 <= len(self.ids)]
        self.verses = json.load(open(os.path.join(work, "train_verses.json")))
        self.tok = bpe.Tokenizer.load_merges(os.path.join(work, "merges.json"))
        self.rng = np.random.default_rng(seed)
        self.chat_frac = chat_frac
        self.nl = self.tok.encode("\n")

    def turn(self, role, content):
        t = self.tok
        return [bpe.SOT] + t.encode(role + "\n" + content.strip()) + [bpe.EOT] + self.nl

    def chat(self):
        seq = [bpe.BOS]
        while len(seq) < CTX:
            i = int(self.rng.integers(len(self.verses) - 1))
            words = self.verses[i].split(" ")
            if len(words) > 4 and self.rng.random() < 0.5:
                k = int(self.rng.integers(2, min(8, len(words) - 1)))
                q, ans = " ".join(words[:k]), " ".join(words[k:])
            else:
                q, ans = self.verses[i], self.verses[i + 1]
            seq += self.turn("user", q) + self.turn("model", ans)
        return seq[:CTX]

    def sample(self):
        if self.rng.random() < self.chat_frac:
            return self.chat()
        s = int(self.starts[self.rng.integers(len(self.starts))])
        return [bpe.BOS] + self.ids[s:s + CTX - 1].tolist()

    def batch(self, b):
        return torch.tensor([self.sample() for _ in range(b)], dtype=torch.int64)


def heldout_windows(work):
    """The evaluation protocol: held-out token stream cut into consecutive pieces of CTX-1 tokens
    (remainder dropped); each window is BOS + piece, evaluated from an empty state."""
    h = np.load(os.path.join(work, "heldout_ids.npy")).astype(np.int64)
    n = len(h) // (CTX - 1)
    return [[bpe.BOS] + h[j * (CTX - 1):(j + 1) * (CTX - 1)].tolist() for j in range(n)]


def evaluate(model, windows, force_full=False):
    """Mean NLL over every prediction of every window (window position i predicts i+1), float64
    accumulation. Returns (perplexity, n_predictions)."""
    tot, cnt = 0.0, 0
    with torch.no_grad():
        for w in windows:
            x = torch.tensor([w])
            lg = model(x, force_full=force_full)[0, :-1].double()
            nll = -torch.log_softmax(lg, dim=-1).gather(1, x[0, 1:, None]).sum().item()
            tot += nll
            cnt += len(w) - 1
    return math.exp(tot / cnt), cnt


def init_weights(model, cfg):
    g = torch.Generator().manual_seed(cfg["_seed"])
    std = cfg["initializer_range"]
    for name, p in model.named_parameters():
        if p.dim() == 2:
            s = std / math.sqrt(2 * cfg["num_hidden_layers"]) if name.endswith(("o_proj.weight", "down_proj.weight")) else std
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * s)
        else:
            with torch.no_grad():
                p.zero_()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "work"))
    ap.add_argument("--steps", default="auto")
    ap.add_argument("--max-steps", type=int, default=1600)
    ap.add_argument("--budget-min", type=float, default=36.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--chat-frac", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stop-at", type=int, default=None,
                    help="save the checkpoint and exit after this step (resume later with --resume)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--new-total", type=int, default=None,
                    help="with --resume: shorten (or lengthen) the LR schedule to this many steps")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = dict(CONFIG, _seed=a.seed)
    model = gemma3.Gemma3(cfg)
    init_weights(model, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    batcher = Batcher(a.work, a.seed, a.chat_frac)
    windows = heldout_windows(a.work)
    log = {"args": vars(a), "n_params": n_params, "loss": [], "eval": []}
    step = 0
    total = None if a.steps == "auto" else int(a.steps)
    t_used = 0.0
    ck = os.path.join(a.work, "ckpt.pt")
    if a.resume and os.path.exists(ck):
        st = torch.load(ck)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        batcher.rng.bit_generator.state = st["rng"]
        step, total, log, t_used = st["step"], st["total"], st["log"], st["t_used"]
        print("resumed at step %d" % step, flush=True)
        log.setdefault("resumes", []).append({"at_step": step, "args": vars(a)})
        if a.new_total:
            if a.new_total <= step:
                raise SystemExit("--new-total must exceed the resumed step %d" % step)
            log.setdefault("schedule_changes", []).append({"at_step": step, "old_total": total, "new_total": a.new_total})
            total = a.new_total
            print("schedule now ends at step %d" % total, flush=True)
    print("params %d, batch %d x %d, %d held-out windows" % (n_params, a.batch, CTX, len(windows)), flush=True)
    t_start = time.time() - t_used
    t_probe = None
    while total is None or step < total:
        if total is None and step == 5:
            t_probe = time.time()
        if total is None and step == 25:
            per = (time.time() - t_probe) / 20
            total = max(200, min(a.max_steps, int(a.budget_min * 60 / per)))
            print("%.2fs/step -> %d steps" % (per, total), flush=True)
        T = total or a.max_steps
        lr = a.lr * (step + 1) / a.warmup if step < a.warmup else \
            a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - a.warmup) / max(1, T - a.warmup))))
        for g in opt.param_groups:
            g["lr"] = lr
        x = batcher.batch(a.batch)
        lg = model(x[:, :-1])
        loss = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        log["loss"].append(round(loss.item(), 4))
        if step % 10 == 0:
            el = time.time() - t_start
            print("step %d/%s loss %.4f lr %.2e  %.0fs" % (step, total, np.mean(log["loss"][-10:]), lr, el), flush=True)
        if step % 200 == 0 or step == total:
            ppl, _ = evaluate(model, windows)
            log["eval"].append([step, ppl])
            print("step %d held-out ppl %.3f" % (step, ppl), flush=True)
        if step % 100 == 0 or step == total or step == a.stop_at:
            log["steps"] = total
            log["wall_s"] = time.time() - t_start
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": batcher.rng.bit_generator.state,
                        "step": step, "total": total, "log": log, "t_used": time.time() - t_start}, ck + ".tmp")
            os.replace(ck + ".tmp", ck)
        if a.stop_at and step == a.stop_at:
            print("stopped at step %d (checkpoint saved)" % step, flush=True)
            return
    log["steps"] = total
    log["wall_s"] = time.time() - t_start
    torch.save({"model": model.state_dict(), "config": CONFIG, "log": log}, os.path.join(a.work, "final.pt"))
    json.dump(log, open(os.path.join(a.work, "train_log.json"), "w"))
    print("done: %d steps, %.1f min" % (total, log["wall_s"] / 60), flush=True)


if __name__ == "__main__":
    main()
