"""Gemma 3 text decoder in PyTorch, written from the mixlm spec (SPEC.md section 5), plus
minimal safetensors I/O. Parameter names equal the Hugging Face Gemma3ForCausalLM names, so
state_dict() is directly what goes into model.safetensors."""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """Gemma RMSNorm: stores w, multiplies by (1 + w); always computed in f32 (or f64)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        dt = torch.float64 if x.dtype == torch.float64 else torch.float32
        xf = x.to(dt)
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * (1.0 + self.weight.to(dt))).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        E, H, HKV, D = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        self.H, self.HKV, self.D = H, HKV, D
        self.q_proj = nn.Linear(E, H * D, bias=False)
        self.k_proj = nn.Linear(E, HKV * D, bias=False)
        self.v_proj = nn.Linear(E, HKV * D, bias=False)
        self.o_proj = nn.Linear(H * D, E, bias=False)
        self.q_norm = RMSNorm(D, cfg["rms_norm_eps"])
        self.k_norm = RMSNorm(D, cfg["rms_norm_eps"])
        self.scale = cfg["query_pre_attn_scalar"] ** -0.5

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(B, T, self.H, self.D))
        k = self.k_norm(self.k_proj(x).view(B, T, self.HKV, self.D))
        v = self.v_proj(x).view(B, T, self.HKV, self.D)
        q = apply_rope(q, cos, sin).transpose(1, 2)          # B, H, T, D
        k = apply_rope(k, cos, sin).transpose(1, 2)          # B, HKV, T, D
        v = v.transpose(1, 2)
        rep = self.H // self.HKV                              # query head h uses kv head h // rep
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        s = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        s = s.masked_fill(~mask, float("-inf"))
        p = torch.softmax(s.float() if s.dtype != torch.float64 else s, dim=-1).to(v.dtype)
        o = torch.matmul(p, v).transpose(1, 2).reshape(B, T, self.H * self.D)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        E, FF = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(E, FF, bias=False)
        self.up_proj = nn.Linear(E, FF, bias=False)
        self.down_proj = nn.Linear(FF, E, bias=False)

    def forward(self, x):
        return self.down_proj(F.gelu(self.gate_proj(x), approximate="tanh") * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        E, eps = cfg["hidden_size"], cfg["rms_norm_eps"]
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(E, eps)
        self.post_attention_layernorm = RMSNorm(E, eps)
        self.pre_feedforward_layernorm = RMSNorm(E, eps)
        self.post_feedforward_layernorm = RMSNorm(E, eps)

    def forward(self, x, cos, sin, mask):
        h = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), cos, sin, mask))
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


def apply_rope(x, cos, sin):
    """NeoX / half-split rotary: pairs (j, j + D/2). x: B, T, heads, D; cos/sin: T, D."""
    D = x.shape[-1]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    rot = torch.cat([-x2, x1], dim=-1)
    return x * cos[None, :, None, :] + rot * sin[None, :, None, :]


def rope_tables(T, D, base, dtype):
    # Angles in float64, then rounded once to the compute dtype.
    inv = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    f = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat([f, f], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def layer_types(cfg):
    lt = cfg.get("layer_types")
    if lt:
        return lt
    pat = cfg.get("sliding_window_pattern", 6)
    return ["sliding_attention" if (i + 1) % pat else "full_attention" for i in range(cfg["num_hidden_layers"])]


def masks(T, window, device=None):
    """Boolean visibility masks (True = visible), SPEC.md section 1."""
    q = torch.arange(T, device=device)[:, None]
    k = torch.arange(T, device=device)[None, :]
    causal = k <= q
    sliding = causal & ((q - k) < window)
    return causal, sliding


class Gemma3(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        self.types = layer_types(cfg)

    def forward(self, ids, force_full=False):
        """ids: B, T int64 (positions 0..T-1, fresh state). Returns logits B, T, V.
        force_full=True treats sliding layers as full attention (the 'wrong mask' check)."""
        cfg = self.cfg
        B, T = ids.shape
        W = self.model.embed_tokens.weight
        dt = W.dtype
        # sqrt(hidden) rounded to the weight dtype, as HF does.
        scale = torch.tensor(math.sqrt(cfg["hidden_size"]), dtype=dt)
        x = self.model.embed_tokens(ids) * scale
        D = cfg["head_dim"]
        cs_g = rope_tables(T, D, cfg["rope_theta"], dt)
        cs_l = rope_tables(T, D, cfg["rope_local_base_freq"], dt)
        causal, sliding = masks(T, cfg["sliding_window"], ids.device)
        for i, layer in enumerate(self.model.layers):
            if self.types[i] == "sliding_attention":
                x = layer(x, cs_l[0], cs_l[1], causal if force_full else sliding)
            else:
                x = layer(x, cs_g[0], cs_g[1], causal)
        x = self.model.norm(x)
        return torch.matmul(x, W.t())


# ---------------------------------------------------------------- safetensors

_ST_DT = {"F32": (np.float32, 4), "F16": (np.float16, 2), "F64": (np.float64, 8), "BF16": (None, 2)}


def read_safetensors(path):
    """Returns {name: float32/float64 numpy array} (BF16 and F16 widened to f32)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b0, b1 = info["data_offsets"]
        if info["dtype"] == "BF16":
            u = np.frombuffer(data[b0:b1], dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(data[b0:b1], dtype=np.dtype(_ST_DT[info["dtype"]][0]).newbyteorder("<"))
            if a.dtype == np.float16:
                a = a.astype(np.float32)
        out[name] = a.reshape(info["shape"]).copy()
    return out, header


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: numpy array of float32 or float16}. Sorted names, 8-aligned header."""
    names = sorted(tensors)
    header = {}
    off = 0
    blobs = []
    for name in names:
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_hf(folder, dtype=torch.float32):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    m = Gemma3(cfg)
    tensors, _ = read_safetensors(os.path.join(folder, "model.safetensors"))
    sd = {k: torch.from_numpy(v) for k, v in tensors.items()}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if unexpected or missing:
        raise SystemExit("weight mismatch: missing %s unexpected %s" % (missing, unexpected))
    return m.to(dtype), cfg
