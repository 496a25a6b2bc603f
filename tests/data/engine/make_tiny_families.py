#!/usr/bin/env python3
"""make_tiny_families.py: tiny random-weight Qwen 2, Qwen 3 and Mistral models in Hugging Face
layout (config.json + model.safetensors, F32) and their logits from an independent float64
forward pass written from the Hugging Face modeling formulas (numpy only).

Covers what the oracle models do not: q/k/v biases (Qwen 2), per-head q/k RMSNorm with plain
weights and head_dim * heads != hidden (Qwen 3), untied output matrices (lm_head), sliding
windows on some layers (Qwen 2: use_sliding_window with max_window_layers) and on every layer
(Mistral), RoPE base 1e6.

Run: /usr/bin/python3 make_tiny_families.py OUT_DIR   (deterministic: numpy default_rng(7))
"""
import json
import os
import struct
import sys

import numpy as np

N_TOKENS = 24


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, theta):  # x [T, H, d], rotate_half (HF) form
    d = x.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    ang = pos[:, None] * inv[None, :]                      # [T, d/2]
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1)[:, None, :]
    rot = np.concatenate([-x[..., d // 2:], x[..., :d // 2]], axis=-1)
    return x * cos + rot * sin


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def forward(cfg, W, ids):
    if cfg["model_type"] == "gemma3_text":
        return forward_gemma3(cfg, W, ids)
    T = len(ids)
    E, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", E // H)
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    g = lambda n: W[n].astype(np.float64)
    x = g("model.embed_tokens.weight")[ids]
    pos = np.arange(T, dtype=np.float64)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, g(p + "input_layernorm.weight"), eps)
        q, k, v = (h @ g(p + f"self_attn.{n}_proj.weight").T for n in "qkv")
        if cfg["model_type"] == "qwen2":
            q, k, v = (t + g(p + f"self_attn.{n}_proj.bias") for t, n in zip((q, k, v), "qkv"))
        q, k, v = q.reshape(T, H, d), k.reshape(T, KV, d), v.reshape(T, KV, d)
        if cfg["model_type"] == "qwen3":
            q = rmsnorm(q, g(p + "self_attn.q_norm.weight"), eps)
            k = rmsnorm(k, g(p + "self_attn.k_norm.weight"), eps)
        q, k = rope(q, pos, theta), rope(k, pos, theta)
        sliding = cfg["layer_kinds"][l] == "sliding"
        out = np.zeros((T, H, d))
        for hh in range(H):
            kh = hh // (H // KV)
            s = q[:, hh, :] @ k[:, kh, :].T / np.sqrt(d)
            qi, ki = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
            vis = ki <= qi
            if sliding:
                vis &= (qi - ki) < cfg["sliding_window"]
            s = np.where(vis, s, -np.inf)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, hh, :] = s @ v[:, kh, :]
        x = x + out.reshape(T, H * d) @ g(p + "self_attn.o_proj.weight").T
        h = rmsnorm(x, g(p + "post_attention_layernorm.weight"), eps)
        gt = h @ g(p + "mlp.gate_proj.weight").T
        up = h @ g(p + "mlp.up_proj.weight").T
        x = x + (gt / (1.0 + np.exp(-gt)) * up) @ g(p + "mlp.down_proj.weight").T
    x = rmsnorm(x, g("model.norm.weight"), eps)
    out_w = g("model.embed_tokens.weight") if cfg.get("tie_word_embeddings") else g("lm_head.weight")
    return x @ out_w.T


def forward_gemma3(cfg, W, ids):
    """Gemma 3 text: embedding times sqrt(hidden) rounded to f32, (1 + w) norms, sandwich norms,
    q/k norms, local RoPE base without scaling on sliding layers, global base with linear
    scaling on full layers, scale query_pre_attn_scalar^-0.5, GELU (tanh) gate, tied output."""
    T = len(ids)
    E, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d, eps = cfg["head_dim"], cfg["rms_norm_eps"]
    g = lambda n: W[n].astype(np.float64)
    nrm = lambda x, n: rmsnorm(x, 1.0 + g(n), eps)
    x = g("model.embed_tokens.weight")[ids] * float(np.float32(np.sqrt(E)))
    pos = np.arange(T, dtype=np.float64)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        sliding = cfg["layer_types"][l] == "sliding_attention"
        h = nrm(x, p + "input_layernorm.weight")
        q, k, v = (h @ g(p + f"self_attn.{n}_proj.weight").T for n in "qkv")
        q, k, v = q.reshape(T, H, d), k.reshape(T, KV, d), v.reshape(T, KV, d)
        q = nrm(q, p + "self_attn.q_norm.weight")
        k = nrm(k, p + "self_attn.k_norm.weight")
        if sliding:
            q, k = rope(q, pos, cfg["rope_local_base_freq"]), rope(k, pos, cfg["rope_local_base_freq"])
        else:
            f = cfg["rope_scaling"]["factor"]
            q, k = rope(q, pos / f, cfg["rope_theta"]), rope(k, pos / f, cfg["rope_theta"])
        out = np.zeros((T, H, d))
        for hh in range(H):
            kh = hh // (H // KV)
            s = q[:, hh, :] @ k[:, kh, :].T * cfg["query_pre_attn_scalar"] ** -0.5
            qi, ki = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
            vis = ki <= qi
            if sliding:
                vis &= (qi - ki) < cfg["sliding_window"]
            s = np.where(vis, s, -np.inf)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, hh, :] = s @ v[:, kh, :]
        a = out.reshape(T, H * d) @ g(p + "self_attn.o_proj.weight").T
        x = x + nrm(a, p + "post_attention_layernorm.weight")
        h = nrm(x, p + "pre_feedforward_layernorm.weight")
        mlp = (gelu_tanh(h @ g(p + "mlp.gate_proj.weight").T) * (h @ g(p + "mlp.up_proj.weight").T)) \
            @ g(p + "mlp.down_proj.weight").T
        x = x + nrm(mlp, p + "post_feedforward_layernorm.weight")
    x = nrm(x, "model.norm.weight")
    return x @ g("model.embed_tokens.weight").T


def make(rng, cfg):
    E, H, KV, F = (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"],
                   cfg["intermediate_size"])
    d = cfg.get("head_dim", E // H)
    V, L = cfg["vocab_size"], cfg["num_hidden_layers"]
    mat = lambda o, i: rng.normal(0, 1 / np.sqrt(i), (o, i)).astype(np.float32)
    norm = lambda n: (1 + 0.1 * rng.normal(0, 1, n)).astype(np.float32)
    W = {"model.embed_tokens.weight": mat(V, E)}
    for l in range(L):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = norm(E)
        W[p + "self_attn.q_proj.weight"] = mat(H * d, E)
        W[p + "self_attn.k_proj.weight"] = mat(KV * d, E)
        W[p + "self_attn.v_proj.weight"] = mat(KV * d, E)
        if cfg["model_type"] == "qwen2":
            for n, o in (("q", H * d), ("k", KV * d), ("v", KV * d)):
                W[p + f"self_attn.{n}_proj.bias"] = (0.5 * rng.normal(0, 1, o)).astype(np.float32)
        if cfg["model_type"] in ("qwen3", "gemma3_text"):
            W[p + "self_attn.q_norm.weight"] = norm(d)
            W[p + "self_attn.k_norm.weight"] = norm(d)
        W[p + "self_attn.o_proj.weight"] = mat(E, H * d)
        W[p + "post_attention_layernorm.weight"] = norm(E)
        if cfg["model_type"] == "gemma3_text":  # HF Gemma stores w, used as (1 + w)
            for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                      "post_feedforward_layernorm"):
                W[p + n + ".weight"] = (0.1 * rng.normal(0, 1, E)).astype(np.float32)
            for n in ("q_norm", "k_norm"):
                W[p + f"self_attn.{n}.weight"] = (0.1 * rng.normal(0, 1, d)).astype(np.float32)
        W[p + "mlp.gate_proj.weight"] = mat(F, E)
        W[p + "mlp.up_proj.weight"] = mat(F, E)
        W[p + "mlp.down_proj.weight"] = mat(E, F)
    W["model.norm.weight"] = norm(E) - (1.0 if cfg["model_type"] == "gemma3_text" else 0.0)
    if not cfg.get("tie_word_embeddings"):
        W["lm_head.weight"] = mat(V, E)
    return W


BASE = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128,
        "rms_norm_eps": 1e-6, "max_position_embeddings": 256, "bos_token_id": 1,
        "eos_token_id": 2, "torch_dtype": "float32", "hidden_act": "silu"}

CASES = {
    "hf-tiny-qwen2": dict(BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                          rope_theta=1e6, tie_word_embeddings=True, use_sliding_window=True,
                          sliding_window=4, max_window_layers=1,
                          layer_kinds=["full", "sliding", "sliding"]),
    "hf-tiny-qwen3": dict(BASE, architectures=["Qwen3ForCausalLM"], model_type="qwen3",
                          head_dim=24, rope_theta=1e6, tie_word_embeddings=False,
                          use_sliding_window=False, sliding_window=None, max_window_layers=3,
                          layer_kinds=["full", "full", "full"]),
    "hf-tiny-mistral": dict(BASE, architectures=["MistralForCausalLM"], model_type="mistral",
                            rope_theta=1e4, tie_word_embeddings=False, sliding_window=5,
                            layer_kinds=["sliding", "sliding", "sliding"]),
    "hf-tiny-gemma3-scaled": dict(BASE, architectures=["Gemma3ForCausalLM"],
                                  model_type="gemma3_text", hidden_size=48, head_dim=16,
                                  query_pre_attn_scalar=24, rope_theta=1e6,
                                  rope_local_base_freq=1e4,
                                  rope_scaling={"rope_type": "linear", "factor": 8.0},
                                  sliding_window=4, hidden_activation="gelu_pytorch_tanh",
                                  layer_types=["sliding_attention", "full_attention",
                                               "sliding_attention"],
                                  tie_word_embeddings=True, final_logit_softcapping=None,
                                  attn_logit_softcapping=None, hidden_act=None,
                                  layer_kinds=["sliding", "full", "sliding"]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(7)
    ids = [1] + [int(t) for t in rng.integers(3, 128, N_TOKENS - 1)]
    with open(os.path.join(out, "tokens.txt"), "w") as f:
        f.write(",".join(map(str, ids)) + "\n")
    for name, cfg in CASES.items():
        W = make(rng, cfg)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        conf = {k: v for k, v in cfg.items() if k != "layer_kinds"}
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(conf, f, indent=1)
        write_safetensors(os.path.join(d, "model.safetensors"), W)
        logits = forward(cfg, W, np.array(ids))
        logits.astype("<f4").tofile(os.path.join(out, name + ".logits.f32"))
        print(name, logits.shape, "argmax", logits.argmax(-1)[:8])


if __name__ == "__main__":
    main()
