#!/usr/bin/env python3
"""Converts a Gemma 3 text HF folder (config.json, model.safetensors with F32/F16 tensors,
tokenizer.json with a byte-level BPE model, tokenizer_config.json) into a GGUF v3 file for
llama.cpp-style readers (arch "gemma3"). Needs only numpy.

Usage: convert_gguf.py HF_DIR OUT.gguf [--name NAME]

Conventions (see the GGUF spec and mixlm's SPEC.md section 5):
  * tensor dims are written innermost first: an HF [out, in] matrix gets ne = [in, out] and the
    same bytes;
  * Gemma norm weights are stored as (1 + w) in f32 (HF stores w and multiplies by 1 + w);
  * the tokenizer goes into tokenizer.ggml.* with model "gpt2" (byte-level BPE + merges) and the
    chat template into tokenizer.chat_template."""
import argparse
import json
import os
import struct
import sys

import numpy as np

ALIGN = 32
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64 = 4, 5, 6, 7, 8, 9, 10
GGML_F32, GGML_F16 = 0, 1
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3

LAYER_MAP = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
    "input_layernorm": "attn_norm", "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def read_safetensors_raw(path):
    """{name: (dtype string, shape, numpy array of that dtype)}."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        npdt = {"F32": "<f4", "F16": "<f2"}.get(info["dtype"])
        if npdt is None:
            raise SystemExit("%s: dtype %s not supported (F32/F16 only)" % (name, info["dtype"]))
        b0, b1 = info["data_offsets"]
        out[name] = np.frombuffer(data[b0:b1], dtype=npdt).reshape(info["shape"])
    return out


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    p = hf.split(".")
    if p[:2] == ["model", "layers"] and p[-1] == "weight":
        key = ".".join(p[3:-1])
        if key in LAYER_MAP:
            return "blk.%s.%s.weight" % (p[2], LAYER_MAP[key])
    raise SystemExit("no GGUF name for tensor %s" % hf)


class Writer:
    def __init__(self):
        self.kv = []
        self.tensors = []

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def _val(self, vtype, v):
        if vtype == T_STR:
            return self._str(v)
        if vtype == T_ARR:
            et, items = v
            return struct.pack("<IQ", et, len(items)) + b"".join(self._val(et, x) for x in items)
        fmt = {T_U32: "<I", T_I32: "<i", T_F32: "<f", T_BOOL: "<?", T_U64: "<Q"}[vtype]
        return struct.pack(fmt, v)

    def add_tensor(self, name, arr, ggml_type):
        self.tensors.append((name, np.ascontiguousarray(arr), ggml_type))

    def write(self, path):
        out = bytearray(b"GGUF")
        out += struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, vt, v in self.kv:
            out += self._str(key) + struct.pack("<I", vt) + self._val(vt, v)
        off = 0
        blobs = []
        for name, a, t in self.tensors:
            ne = list(reversed(a.shape))     # innermost dimension first
            out += self._str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
            out += struct.pack("<IQ", t, off)
            b = a.tobytes()
            blobs.append((off, b))
            off += len(b)
            off += (-off) % ALIGN
        out += b"\0" * ((-len(out)) % ALIGN)
        base = len(out)
        for o, b in blobs:
            out += b"\0" * (base + o - len(out))
            out += b
        with open(path, "wb") as f:
            f.write(out)


def convert(hf_dir, out_path, name):
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    tj = json.load(open(os.path.join(hf_dir, "tokenizer.json")))
    tc = json.load(open(os.path.join(hf_dir, "tokenizer_config.json")))
    if cfg.get("model_type") != "gemma3_text":
        raise SystemExit("only model_type gemma3_text is supported")
    L = cfg["num_hidden_layers"]
    types = cfg["layer_types"]
    pat = cfg.get("sliding_window_pattern", 6)
    # GGUF can only say "sliding unless (i+1) % pattern == 0": the layer list must follow it.
    if types != ["sliding_attention" if (i + 1) % pat else "full_attention" for i in range(L)]:
        raise SystemExit("layer_types do not follow sliding_window_pattern %d" % pat)
    if cfg.get("query_pre_attn_scalar", cfg["head_dim"]) != cfg["head_dim"]:
        raise SystemExit("GGUF gemma3 implies query_pre_attn_scalar == head_dim")
    if cfg.get("rope_scaling"):
        raise SystemExit("rope_scaling not supported by this converter")

    w = Writer()
    A = "gemma3"
    w.add("general.architecture", T_STR, A)
    w.add("general.name", T_STR, name)
    w.add("general.file_type", T_U32, 1)                 # mostly F16
    w.add(A + ".context_length", T_U32, cfg["max_position_embeddings"])
    w.add(A + ".embedding_length", T_U32, cfg["hidden_size"])
    w.add(A + ".block_count", T_U32, L)
    w.add(A + ".feed_forward_length", T_U32, cfg["intermediate_size"])
    w.add(A + ".attention.head_count", T_U32, cfg["num_attention_heads"])
    w.add(A + ".attention.head_count_kv", T_U32, cfg["num_key_value_heads"])
    w.add(A + ".attention.key_length", T_U32, cfg["head_dim"])
    w.add(A + ".attention.value_length", T_U32, cfg["head_dim"])
    w.add(A + ".attention.layer_norm_rms_epsilon", T_F32, cfg["rms_norm_eps"])
    w.add(A + ".rope.freq_base", T_F32, cfg["rope_theta"])
    w.add(A + ".rope.freq_base_swa", T_F32, cfg["rope_local_base_freq"])
    w.add(A + ".attention.sliding_window", T_U32, cfg["sliding_window"])
    w.add(A + ".attention.sliding_window_pattern", T_U32, pat)

    # Tokenizer: ids must be dense 0..n-1.
    m = tj["model"]
    if m.get("type") != "BPE" or (tj.get("pre_tokenizer") or {}).get("type") != "ByteLevel":
        raise SystemExit("only byte-level BPE tokenizers are supported")
    vocab = dict(m["vocab"])
    for t in tj.get("added_tokens", []):
        vocab[t["content"]] = t["id"]
    n = len(vocab)
    toks = [None] * n
    for s, i in vocab.items():
        toks[i] = s
    if None in toks or n != cfg["vocab_size"]:
        raise SystemExit("tokenizer ids are not dense 0..%d" % (cfg["vocab_size"] - 1))
    special = {t["id"] for t in tj.get("added_tokens", []) if t.get("special")}
    merges = [x if isinstance(x, str) else " ".join(x) for x in m["merges"]]
    ids = {s: i for i, s in enumerate(toks)}

    def tid(key):
        v = tc.get(key)
        v = v["content"] if isinstance(v, dict) else v
        return ids[v]

    w.add("tokenizer.ggml.model", T_STR, "gpt2")
    w.add("tokenizer.ggml.pre", T_STR, "gpt-2")
    w.add("tokenizer.ggml.tokens", T_ARR, (T_STR, toks))
    w.add("tokenizer.ggml.token_type", T_ARR, (T_I32, [TOKEN_CONTROL if i in special else TOKEN_NORMAL for i in range(n)]))
    w.add("tokenizer.ggml.merges", T_ARR, (T_STR, merges))
    w.add("tokenizer.ggml.bos_token_id", T_U32, tid("bos_token"))
    w.add("tokenizer.ggml.eos_token_id", T_U32, tid("eos_token"))
    w.add("tokenizer.ggml.unknown_token_id", T_U32, tid("unk_token"))
    w.add("tokenizer.ggml.padding_token_id", T_U32, tid("pad_token"))
    if "<end_of_turn>" in ids:
        w.add("tokenizer.ggml.eot_token_id", T_U32, ids["<end_of_turn>"])
    w.add("tokenizer.ggml.add_bos_token", T_BOOL, bool(tc.get("add_bos_token", False)))
    w.add("tokenizer.ggml.add_eos_token", T_BOOL, bool(tc.get("add_eos_token", False)))
    if tc.get("chat_template"):
        w.add("tokenizer.chat_template", T_STR, tc["chat_template"])

    st = read_safetensors_raw(os.path.join(hf_dir, "model.safetensors"))
    order = ["model.embed_tokens.weight"] + \
        sorted((k for k in st if k.startswith("model.layers.")), key=lambda k: (int(k.split(".")[2]), k)) + \
        ["model.norm.weight"]
    if sorted(order) != sorted(st):
        raise SystemExit("unexpected tensors: %s" % sorted(set(st) - set(order)))
    for hf in order:
        a = st[hf]
        if hf.endswith("norm.weight"):
            # GGUF Gemma norms hold 1 + w, computed in f32 exactly as a reader of HF would.
            a = (np.float32(1.0) + a.astype(np.float32)).astype("<f4")
            t = GGML_F32
        elif a.dtype == np.dtype("<f2"):
            t = GGML_F16
        else:
            a = a.astype("<f4")
            t = GGML_F32
        w.add_tensor(gguf_name(hf), a, t)
    w.write(out_path)
    return len(w.tensors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--name", default=None)
    a = ap.parse_args()
    n = convert(a.hf_dir, a.out, a.name or os.path.basename(os.path.normpath(a.hf_dir)))
    print("wrote %s: %d tensors, %d bytes" % (a.out, n, os.path.getsize(a.out)))


if __name__ == "__main__":
    sys.exit(main())
