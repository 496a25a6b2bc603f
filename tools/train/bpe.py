"""Byte-level BPE (GPT-2 style): trainer, encoder/decoder, and the Hugging Face tokenizer.json /
tokenizer_config.json writers for the bundled model.

Vocabulary layout: ids 0..5 are the special tokens below, 6..261 the 256 single bytes (in byte
order, spelled with the GPT-2 byte-to-unicode map), then one token per merge in merge order.
The pre-tokenizer is the GPT-2 split regex (tokenizer.json: ByteLevel with use_regex). This
Python encoder spells it with ASCII classes, which is the same split on ASCII text; the
training and held-out text is pure ASCII (checked in prepare_data.py)."""
import json
import re

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
PAD, EOS, BOS, UNK, SOT, EOT = range(6)
N_SPECIAL = len(SPECIALS)

# GPT-2's pattern with \p{L} -> [A-Za-z] and \p{N} -> [0-9]: identical on ASCII input.
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


def pretokenize(text):
    if not text.isascii():
        raise ValueError("this encoder handles ASCII text only")
    return PAT.findall(text)


def train(text, vocab_size, log=None):
    """Returns the merge list [(a_id, b_id), ...] (ids in the layout above)."""
    counts = {}
    for w in pretokenize(text):
        counts[w] = counts.get(w, 0) + 1
    words = [[N_SPECIAL + b for b in w.encode()] for w in counts]
    freq = list(counts.values())
    pair_count = {}
    pair_words = {}
    for wi, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] = pair_count.get((a, b), 0) + freq[wi]
            pair_words.setdefault((a, b), set()).add(wi)
    merges = []
    next_id = N_SPECIAL + 256
    while next_id < vocab_size and pair_count:
        # Highest count; ties go to the smallest id pair (deterministic).
        best = min(pair_count.items(), key=lambda kv: (-kv[1], kv[0]))
        pair, c = best
        if c < 2:
            break
        a, b = pair
        merges.append(pair)
        new = next_id
        next_id += 1
        for wi in sorted(pair_words.pop(pair, ())):
            w = words[wi]
            f = freq[wi]
            for p in zip(w, w[1:]):
                pair_count[p] -= f
                if pair_count[p] == 0:
                    del pair_count[p]
            out = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[wi] = out
            for p in zip(out, out[1:]):
                pair_count[p] = pair_count.get(p, 0) + f
                pair_words.setdefault(p, set()).add(wi)
        pair_count.pop(pair, None)
        if log and len(merges) % 500 == 0:
            log("merge %d count %d" % (len(merges), c))
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.tokens = list(SPECIALS) + [B2U[b] for b in range(256)]
        self.token_bytes = [s.encode() for s in SPECIALS] + [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            self.tokens.append(self.tokens[a] + self.tokens[b])
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.merged = {m: N_SPECIAL + 256 + i for i, m in enumerate(self.merges)}
        self.cache = {}

    def __len__(self):
        return len(self.tokens)

    def _bpe(self, word):
        ids = [N_SPECIAL + b for b in word.encode()]
        while len(ids) > 1:
            best = None
            for p in zip(ids, ids[1:]):
                r = self.rank.get(p)
                if r is not None and (best is None or r < best[0]):
                    best = (r, p)
            if best is None:
                break
            a, b = best[1]
            new = self.merged[best[1]]
            out = []
            i = 0
            while i < len(ids):
                if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        return ids

    def encode(self, text, bos=False):
        out = [BOS] if bos else []
        for w in pretokenize(text):
            ids = self.cache.get(w)
            if ids is None:
                ids = self.cache[w] = self._bpe(w)
            out.extend(ids)
        return out

    def decode(self, ids, skip_special=True):
        bs = b""
        for i in ids:
            if i < N_SPECIAL:
                if not skip_special:
                    bs += SPECIALS[i].encode()
            else:
                bs += self.token_bytes[i]
        return bs.decode("utf-8", errors="replace")

    # ------------------------------------------------------------ HF files

    def tokenizer_json(self):
        added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
        vocab = {t: i for i, t in enumerate(self.tokens) if i >= N_SPECIAL}
        vocab.update({s: i for i, s in enumerate(SPECIALS)})
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                              "use_regex": True},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                         {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<bos>": {"id": "<bos>", "ids": [BOS], "tokens": ["<bos>"]}},
            },
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                        "use_regex": True},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                "ignore_merges": False,
                "vocab": vocab,
                "merges": ["%s %s" % (self.tokens[a], self.tokens[b]) for a, b in self.merges],
            },
        }

    @staticmethod
    def tokenizer_config(max_len):
        return {
            "add_bos_token": True,
            "add_eos_token": False,
            "added_tokens_decoder": {str(i): {"content": s, "lstrip": False, "normalized": False,
                                              "rstrip": False, "single_word": False, "special": True}
                                     for i, s in enumerate(SPECIALS)},
            "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
            "bos_token": "<bos>",
            "eos_token": "<eos>",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
            "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "model_max_length": max_len,
            "tokenizer_class": "PreTrainedTokenizerFast",
        }

    def save_merges(self, path):
        json.dump({"merges": [list(m) for m in self.merges]}, open(path, "w"))

    @classmethod
    def load_merges(cls, path):
        return cls(json.load(open(path))["merges"])
