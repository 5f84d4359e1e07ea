#!/usr/bin/python3
"""Pure-Python BERT uncased WordPiece tokenizer: the reference for EdgeQuant's C# tokenizer.

It has no dependencies beyond the standard library (unicodedata). The algorithm follows
google-research/bert `tokenization.py` and Hugging Face `BertTokenizer` (the slow,
pure-Python one) with `do_lower_case=True`:

BasicTokenizer
  1. clean text: drop U+0000, U+FFFD and control characters (`_is_control`), and map
     whitespace (`_is_whitespace`: space, \\t, \\n, \\r, category Zs) to " ".
  2. CJK ideographs (the 8 BERT code-point ranges) get a space on each side, so each one
     becomes its own token.
  3. split on whitespace (Python `str.split()`, see NOTES).
  4. per token: `str.lower()`, then strip accents (NFD, drop category Mn), then split on
     punctuation (`_is_punctuation`: ASCII 33-47, 58-64, 91-96, 123-126, or any
     Unicode category P*). Every punctuation char becomes its own token.
WordpieceTokenizer
  5. per token: if it has more than 100 characters -> [UNK]; else greedy longest-match-first
     against the vocab, continuation pieces prefixed with "##"; if any position cannot be
     matched, the whole word -> [UNK].
Encoding
  6. [CLS] + pieces[:max_len-2] + [SEP]; token_type_ids all 0; attention_mask 1 for real
     tokens, 0 for padding (padding with [PAD] = id 0 only if pad_to is given).

NOTES (things a port has to reproduce exactly)
  * `_is_control` follows Hugging Face (any category C*: Cc, Cf, Cs, Co, Cn), except
    \\t \\n \\r. Google's original uses only Cc and Cf; pass `control_categories=("Cc","Cf")`
    to get that. They differ only for surrogates, private-use and unassigned code points.
  * Step 3 uses Python's `str.split()` with no argument. It splits on every char for which
    `str.isspace()` is true: after step 1 that adds U+2028, U+2029 (Zl/Zp) and nothing else
    that could still be present. HF's Rust `tokenizers` does the same (`char::is_whitespace`).
  * Lower-casing is Python `str.lower()` = full Unicode lower-case mapping (e.g. U+0130
    'İ' -> 'i' + U+0307, which accent stripping then reduces to 'i'). It is not locale
    dependent. The Unicode tables are those of the Python build (unicodedata.unidata_version,
    14.0.0 for Debian 12's Python 3.11).
  * Special tokens: with `split_special_tokens=True` (default, like HF) the exact,
    case-sensitive literals [CLS] [SEP] [PAD] [MASK] [UNK] inside the input text are kept as
    single special tokens; the text between them is tokenized normally. With False (like
    Google's code) they are ordinary text: "[CLS]" -> "[", "cl", "##s", "]".
  * No NFC normalization is done before splitting (newer HF slow tokenizers do NFC first;
    for an uncased vocabulary with accent stripping this makes no difference in practice).

Command line:
    /usr/bin/python3 tokenizer.py "some text" ["more text" ...]   # prints tokens and ids
    /usr/bin/python3 tokenizer.py --selftest
"""
import argparse
import sys
import unicodedata

DEFAULT_VOCAB = "/work/shared/data/vocab/bert-base-uncased-vocab.txt"
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")


def load_vocab(path):
    """One token per line, id = 0-based line number. Only the trailing newline is removed."""
    vocab = {}
    with open(path, "r", encoding="utf-8") as f:
        for i, line in enumerate(f):
            tok = line.rstrip("\n").rstrip("\r")
            if tok in vocab:
                raise ValueError(f"duplicate vocab entry {tok!r} at line {i + 1}")
            vocab[tok] = i
    return vocab


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch, categories=None):
    if ch in ("\t", "\n", "\r"):
        return False
    cat = unicodedata.category(ch)
    if categories is None:
        return cat.startswith("C")
    return cat in categories


def _is_punctuation(ch):
    cp = ord(ch)
    # ASCII non-letter/number symbols are treated as punctuation even if Unicode says
    # otherwise ("^", "$", "`", "+", "<", "=", ">", "|", "~" are Sm/Sc/Sk in Unicode).
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp):
    return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF)
            or (0x20000 <= cp <= 0x2A6DF) or (0x2A700 <= cp <= 0x2B73F)
            or (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF)
            or (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


def whitespace_tokenize(text):
    text = text.strip()
    return text.split() if text else []


class BasicTokenizer:
    def __init__(self, do_lower_case=True, tokenize_chinese_chars=True, control_categories=None):
        self.do_lower_case = do_lower_case
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.control_categories = control_categories

    def tokenize(self, text):
        text = self._clean_text(text)
        if self.tokenize_chinese_chars:
            text = self._tokenize_chinese_chars(text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.do_lower_case:
                token = token.lower()
                token = self._strip_accents(token)
            split_tokens.extend(self._split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))

    def _clean_text(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch, self.control_categories):
                continue
            out.append(" " if _is_whitespace(ch) else ch)
        return "".join(out)

    @staticmethod
    def _tokenize_chinese_chars(text):
        out = []
        for ch in text:
            if _is_chinese_char(ord(ch)):
                out.extend((" ", ch, " "))
            else:
                out.append(ch)
        return "".join(out)

    @staticmethod
    def _strip_accents(text):
        text = unicodedata.normalize("NFD", text)
        return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")

    @staticmethod
    def _split_on_punc(text):
        output = []
        start_new_word = True
        for ch in text:
            if _is_punctuation(ch):
                output.append([ch])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(ch)
        return ["".join(x) for x in output]


class WordpieceTokenizer:
    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text):
        output = []
        for token in whitespace_tokenize(text):
            chars = list(token)  # code points, not UTF-16 units
            if len(chars) > self.max_input_chars_per_word:
                output.append(self.unk_token)
                continue
            is_bad = False
            start = 0
            sub_tokens = []
            while start < len(chars):
                end = len(chars)
                cur = None
                while start < end:
                    substr = "".join(chars[start:end])
                    if start > 0:
                        substr = "##" + substr
                    if substr in self.vocab:
                        cur = substr
                        break
                    end -= 1
                if cur is None:
                    is_bad = True
                    break
                sub_tokens.append(cur)
                start = end
            if is_bad:
                output.append(self.unk_token)
            else:
                output.extend(sub_tokens)
        return output


class BertTokenizer:
    def __init__(self, vocab_file=DEFAULT_VOCAB, do_lower_case=True, max_len=128,
                 split_special_tokens=True, control_categories=None):
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {v: k for k, v in self.vocab.items()}
        self.basic = BasicTokenizer(do_lower_case=do_lower_case,
                                    control_categories=control_categories)
        self.wordpiece = WordpieceTokenizer(self.vocab)
        self.max_len = max_len
        self.split_special_tokens = split_special_tokens
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]

    def _split_specials(self, text):
        """Yield (is_special, chunk). Leftmost match; at equal positions the longer literal."""
        if not self.split_special_tokens:
            yield False, text
            return
        pos = 0
        while True:
            best = None
            for s in SPECIAL_TOKENS:
                i = text.find(s, pos)
                if i >= 0 and (best is None or i < best[0] or (i == best[0] and len(s) > len(best[1]))):
                    best = (i, s)
            if best is None:
                yield False, text[pos:]
                return
            i, s = best
            yield False, text[pos:i]
            yield True, s
            pos = i + len(s)

    def tokenize(self, text):
        """Text -> list of WordPiece strings (no [CLS]/[SEP])."""
        out = []
        for is_special, chunk in self._split_specials(text):
            if is_special:
                out.append(chunk)
                continue
            for tok in self.basic.tokenize(chunk):
                out.extend(self.wordpiece.tokenize(tok))
        return out

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.get(t, self.unk_id) for t in tokens]

    def encode(self, text, max_len=None, pad_to=None):
        """Returns dict(input_ids, token_type_ids, attention_mask), python int lists.

        [CLS] + first (max_len - 2) pieces + [SEP]. pad_to=None: no padding (length varies);
        pad_to=N: pad with [PAD] (id 0, mask 0) up to N (N >= actual length)."""
        max_len = self.max_len if max_len is None else max_len
        if max_len < 2:
            raise ValueError("max_len must be >= 2")
        pieces = self.convert_tokens_to_ids(self.tokenize(text))[: max_len - 2]
        ids = [self.cls_id] + pieces + [self.sep_id]
        mask = [1] * len(ids)
        if pad_to is not None:
            if pad_to < len(ids):
                raise ValueError("pad_to is shorter than the encoded length")
            n = pad_to - len(ids)
            ids = ids + [self.pad_id] * n
            mask = mask + [0] * n
        return {"input_ids": ids, "token_type_ids": [0] * len(ids), "attention_mask": mask}


def _selftest(tok):
    cases = [
        ("Hello, World!", ["hello", ",", "world", "!"]),
        ("UNwant\u00e9d,running", ["unwanted", ",", "running"]),
        ("  \tHeLLo!how  \n Are yoU?  ", ["hello", "!", "how", "are", "you", "?"]),
        ("H\u00e9llo", ["hello"]),
        ("ah\u535a\u63a8zz", ["ah", "\u535a", "\u63a8", "zz"]),
        ("a\u0000b\ufffdc\u200bd", ["abcd"]),
        ("x" * 101, ["[UNK]"]),
        ("it 's a charming and often affecting journey . ",
         ["it", "'", "s", "a", "charming", "and", "often", "affecting", "journey", "."]),
        ("[CLS] a [SEP]", ["[CLS]", "a", "[SEP]"]),
        ("$5^2 = 25", ["$", "5", "^", "2", "=", "25"]),
    ]
    ok = True
    for text, want in cases:
        basic = []
        for sp, chunk in tok._split_specials(text):
            basic += [chunk] if sp else tok.basic.tokenize(chunk)
        got = basic if want != ["[UNK]"] else tok.tokenize(text)
        if got != want:
            ok = False
            print(f"FAIL {text!r}: {got} != {want}")
    enc = tok.encode("a " * 300)
    if len(enc["input_ids"]) != tok.max_len or enc["input_ids"][-1] != tok.sep_id:
        ok = False
        print("FAIL truncation")
    print("selftest", "OK" if ok else "FAILED", f"(unicodedata {unicodedata.unidata_version})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("text", nargs="*")
    ap.add_argument("--vocab", default=DEFAULT_VOCAB)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    tok = BertTokenizer(args.vocab, max_len=args.max_len)
    if args.selftest:
        return 0 if _selftest(tok) else 1
    for t in args.text:
        enc = tok.encode(t)
        print(t)
        print("  tokens:", ["[CLS]"] + tok.tokenize(t)[: args.max_len - 2] + ["[SEP]"])
        print("  ids:   ", enc["input_ids"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
