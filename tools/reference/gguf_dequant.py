#!/usr/bin/env python3
"""gguf_dequant.py: an independent NumPy decoder of GGUF's Q4_0, Q5_0, Q8_0, Q4_K, Q5_K and Q6_K
blocks, written from the format description (docs/engine.md, "Weight types"), not from mixlm's
C kernels. It writes the golden data tests/test_kquants.c checks the C decoders against:

    tests/data/kquants/<type>.blocks   N random blocks (random bytes; f16 scale fields random
                                       finite halves of either sign)
    tests/data/kquants/<type>.f32      their values, little-endian float32, block after block

Every value is computed in float32 with one rounding per operation, in the order the format
defines it: Q4_0/Q5_0/Q8_0 d * q; Q4_K/Q5_K (d * sc) * q - (dmin * m); Q6_K (d * sc) * q.

Usage: /usr/bin/python3 tools/reference/gguf_dequant.py OUT_DIR   (deterministic: seed 20261127)
"""
import sys
import numpy as np

F32 = np.float32
QK_K = 256


def halves(rng, n):
    """n random finite f16 values of either sign, magnitudes 2^-14 .. 2^2, as uint16."""
    v = (rng.standard_normal(n) * np.exp2(rng.integers(-14, 2, n))).astype(np.float16)
    return v.view(np.uint16)


def f16(b, off):
    """The little-endian f16 at byte offset off of each block row of b, as float32."""
    return b[:, off:off + 2].copy().view("<f2").astype(F32).reshape(-1)


def nibbles_32(qs):
    """Q4_0 / Q5_0 order: element j < 16 = low nibble of byte j, j >= 16 = high nibble of j-16."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int32)


def dec_q8_0(b):
    d = f16(b, 0)
    q = b[:, 2:34].view(np.int8).astype(F32)
    return d[:, None] * q


def dec_q4_0(b):
    d = f16(b, 0)
    q = nibbles_32(b[:, 2:18]) - 8
    return d[:, None] * q.astype(F32)


def dec_q5_0(b):
    d = f16(b, 0)
    high = b[:, 2:6].copy().view("<u4").reshape(-1)            # bit j -> element j
    fifth = (high[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    q = nibbles_32(b[:, 6:22]) + 16 * fifth.astype(np.int32) - 16
    return d[:, None] * q.astype(F32)


def k_scales(s):
    """Eight 6-bit scales and mins from the 12 packed bytes (per block row)."""
    s = s.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    mn = np.empty((s.shape[0], 8), np.int32)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def k_levels_4bit(qs):
    """(blocks, 8, 32): sub-block j reads bytes 32*(j//2) .., low nibble for even j, high for odd."""
    qs = qs.reshape(-1, 4, 32).astype(np.int32)
    out = np.empty((qs.shape[0], 8, 32), np.int32)
    out[:, 0::2, :] = qs & 15
    out[:, 1::2, :] = qs >> 4
    return out


def dec_q4_k(b, fifth_bits=None):
    d, dmin = f16(b, 0), f16(b, 2)
    sc, mn = k_scales(b[:, 4:16])
    if fifth_bits is None:
        q = k_levels_4bit(b[:, 16:144])
    else:
        q = k_levels_4bit(b[:, 48:176]) + 16 * fifth_bits
    scale = (d[:, None] * sc.astype(F32))[:, :, None]           # d * sc, rounded to f32
    offset = (dmin[:, None] * mn.astype(F32))[:, :, None]       # dmin * m
    return (scale * q.astype(F32) - offset).reshape(-1, QK_K)


def dec_q5_k(b):
    qh = b[:, 16:48].astype(np.int32)                           # (blocks, 32): byte l
    bits = (qh[:, None, :] >> np.arange(8)[None, :, None]) & 1  # (blocks, j, l): bit j of qh[l]
    return dec_q4_k(b, fifth_bits=bits)


def dec_q6_k(b):
    ql, qh = b[:, 0:128].astype(np.int32), b[:, 128:192].astype(np.int32)
    scales = b[:, 192:208].view(np.int8).astype(F32)
    d = f16(b, 208)
    q = np.empty((b.shape[0], QK_K), np.int32)
    for h in range(2):                                          # halves of 128 elements
        for k in range(4):                                      # runs of 32 in the half
            lo = ql[:, 64 * h + 32 * (k % 2): 64 * h + 32 * (k % 2) + 32]
            low4 = lo & 15 if k < 2 else lo >> 4
            hi2 = (qh[:, 32 * h: 32 * h + 32] >> (2 * k)) & 3
            q[:, 128 * h + 32 * k: 128 * h + 32 * k + 32] = low4 | (hi2 << 4)
    q -= 32
    scale = d[:, None] * scales                                 # (blocks, 16): d * sc
    return np.repeat(scale, 16, axis=1) * q.astype(F32)


# name: (block bytes, decoder, offsets of the f16 fields, blocks to write)
TYPES = {
    "Q8_0": (34, dec_q8_0, [0], 64),
    "Q4_0": (18, dec_q4_0, [0], 64),
    "Q5_0": (22, dec_q5_0, [0], 64),
    "Q4_K": (144, dec_q4_k, [0, 2], 16),
    "Q5_K": (176, dec_q5_k, [0, 2], 16),
    "Q6_K": (210, dec_q6_k, [208], 16),
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    rng = np.random.default_rng(20261127)
    for name, (nbytes, dec, f16_at, n) in TYPES.items():
        b = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
        for off in f16_at:
            b[:, off:off + 2] = halves(rng, n).view(np.uint8).reshape(n, 2)
        vals = dec(b).astype("<f4")
        assert vals.dtype == np.dtype("<f4") and np.all(np.isfinite(vals))
        b.tofile(f"{out}/{name}.blocks")
        vals.tofile(f"{out}/{name}.f32")
        print(f"{name}: {n} blocks, {vals.size} values")


if __name__ == "__main__":
    main()
