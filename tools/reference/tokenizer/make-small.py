#!/usr/bin/env python3
"""make-small.py: writes the small hand-made tokenizer.json files of tests/data/tokenizer/small/
(Unigram, WordPiece, and a character BPE exercising the other components). Deterministic.
Their golden files come from the reference like the real ones:
  node make-goldens.mjs small-NAME ../../../tests/data/tokenizer/small/NAME.json"""
import json, math, os

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "data", "tokenizer", "small")
os.makedirs(out, exist_ok=True)
words = ("the of and to in is was that for it with as his on be at by had are but from not this have "
         "they which one you were her all she there would their we him been has when who will more no if out "
         "so said what up its about into than them can only other new some could time these two may then do "
         "first any my now such like our over man me even most made after also did many before must through "
         "back years where much your way well down should because each just those people how too little state "
         "good very make world still own see men work long get here between both life being under never day "
         "same another know while last might us great old year off come since against go came right used take "
         "three hello quick brown fox jumps lazy dog tokenizer test ing ed er est ly tion s es").split()
subs = sorted({w[:k] for w in words for k in range(1, len(w) + 1)} | {w[k:] for w in words for k in range(len(w))})

def add(d, name):
    with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(d, f, ensure_ascii=False, indent=1)

# ---- Unigram with Metaspace (T5/ALBERT style), NFKC + collapse of space runs, </s> appended.
chars = [chr(c) for c in range(0x21, 0x7f)] + list("éèàüöäßçñ日本語中文한국어ёжщ")
pieces = ["<unk>", "<s>", "</s>", "<pad>"]
seen = set(pieces)
vocab = [[p, 0.0] for p in pieces]
for i, p in enumerate(["▁"] + ["▁" + w for w in words] + subs + chars):
    if p in seen:
        continue
    seen.add(p)
    # longer pieces score higher (less negative), with a deterministic spread
    vocab.append([p, round(-8.0 - 0.001 * (i % 97) + 0.6 * min(len(p), 8) - (2.0 if len(p) == 1 else 0.0), 4)])
add({
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [
        {"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 1, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 2, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 3, "content": "<pad>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
    ],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "NFKC"},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True, "prepend_scheme": "always"},
    "post_processor": {"type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "special_tokens": {"</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
    "decoder": {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True, "prepend_scheme": "always"},
    "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False},
}, "unigram")

# ---- WordPiece (BERT style): BertNormalizer, BertPreTokenizer, [CLS] ... [SEP].
wp = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
wseen = set(wp)
for p in words + [c for c in chars] + ["##" + s for s in subs] + ["##" + c for c in chars]:
    p = p.lower()
    if p not in wseen:
        wseen.add(p)
        wp.append(p)
add({
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
                     for i, c in enumerate(wp[:5])],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": False},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
              "vocab": {p: i for i, p in enumerate(wp)}},
}, "wordpiece")

# ---- Character BPE with the remaining components: Lowercase/Strip/Prepend normalizers,
# Digits + Punctuation + WhitespaceSplit pre-tokenizers, an end-of-word suffix, added tokens with
# lstrip/rstrip, Replace + Strip decoders.
alphabet = [chr(c) for c in range(0x21, 0x7f) if not chr(c).isupper()] + list("éüöäßñ日本")
bvocab = {"<unk>": 0, "<|sep|>": 1, "[note]": 2}
for c in alphabet:
    bvocab.setdefault(c, len(bvocab))
    bvocab.setdefault(c + "</w>", len(bvocab))
merges = []
for w in words:
    w = w.lower()
    sym = list(w[:-1]) + [w[-1] + "</w>"]
    while len(sym) > 1:
        a, b = sym[0], sym[1]
        m = a + b
        if [a, b] not in merges:
            merges.append([a, b])
        bvocab.setdefault(m, len(bvocab))
        sym = [m] + sym[2:]
add({
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [
        {"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 1, "content": "<|sep|>", "single_word": False, "lstrip": True, "rstrip": True, "normalized": False, "special": True},
        {"id": 2, "content": "[note]", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": False},
    ],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": True, "strip_right": True},
                                                        {"type": "Lowercase"}, {"type": "NFD"}, {"type": "StripAccents"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"}, {"type": "Digits", "individual_digits": True}]},
    "post_processor": None,
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "</w>"}, "content": " "}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 0, "stop": 1}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
              "end_of_word_suffix": "</w>", "fuse_unk": True, "byte_fallback": False, "ignore_merges": False,
              "vocab": bvocab, "merges": merges},
}, "charbpe")
print("written to", os.path.normpath(out))
