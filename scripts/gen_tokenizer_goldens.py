#!/usr/bin/env python3
"""Regenerates tests/data/tokenizers/<name>/goldens.json from the reference implementation.

Uses the `tokenizers` package pinned in requirements-test.txt on the tokenizer.json files in
tests/data/tokenizers/. For every corpus string it records the ids with and without
add_special_tokens, the ids with special-token text treated as plain text
(encode_special_tokens), and the decodes with skip_special_tokens False/True; it also records
decodes of seeded random id sequences and of byte-fragment prefixes, which exercise U+FFFD
handling. Run: .venv/bin/python scripts/gen_tokenizer_goldens.py
"""
import json
import pathlib
import random

import tokenizers
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "tokenizers"
NAMES = ["llama-3.1", "qwen3", "spm-32k-llama2", "tiny-flags", "tiny-metaspace", "tiny-words",
         "tiny-whitespace"]

CORPUS = [
    "",
    " ",
    "  ",
    "Hello world",
    " Hello",
    "Hello ",
    "  leading and trailing  ",
    "a  b   c    d     e",
    "\t\ttabs\tand\nnewlines\n\n\r\nend",
    "a\n\n\n\nb\n",
    "   \n   \t  ",
    "    indented code",
    "日本語のテキストです。中文测试，你好世界！한국어 텍스트",
    "👋🏽 Hi 👨‍👩‍👧‍👦 family 🏳️‍🌈 flag ❤️ 🇫🇷",
    "e\u0301 vs \u00e9",
    "A\u030a ring and \u00c5",
    "Cafe\u0301 cre\u0300me bru\u0302le\u0301e",
    "\u1100\u1161\u11a8 \uac01",
    "1234567890123456789",
    "3.14159 and 2,718,281 and 007",
    "year 2024-11-23, 12:30:45",
    "def foo(x):\n    return x**2  # square\n",
    'int main() { printf("%d\\n", 42); return 0; }',
    '<div class="a">&amp; &lt;tag&gt;</div>',
    "SELECT * FROM t WHERE id = 'x';",
    "<|begin_of_text|>Hi<|eot_id|>",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<s>[INST] hi [/INST]</s>",
    "text <s> inside </s> text <unk>",
    "<think>\nreasoning\n</think>\n\nanswer",
    '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>',
    "<|endoftext|><|endoftext|>",
    "<|im_start|",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "Ελληνικά Русский עברית",
    "\x00\x01\x07\x1b[31mred\x1b[0m\x7f",
    "\u200b\u200c\u200d\ufeff zero width",
    "line\u2028sep\u2029para\u0085nel",
    "Supercalifragilisticexpialidocious" * 20,
    "x" * 300 + "😀" * 40,
    "\\xff\\xfe\\x00 and \\u00e9",
    "\ufffd\ufffd replacement",
    "%E4%B8%AD &#x1F600;",
    "<0x41><0xE4>",
    "I'm you're they'LL DON'T it's 's 'S",
    "ǅ ǈ ß ẞ ﬁ ＡＢＣ ①",
    "▁ already ▁▁ metaspace",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Ünïcödé \u0130stanbul ΣΑΣ",
]


# Added-token flags the real files do not use (lstrip, rstrip, single_word, normalized).
FLAG_CORPUS = [
    "hello <mask> world",
    "hello    <mask>x",
    "\t<mask>\n",
    "a[SEP]   b",
    "[SEP]",
    "word words sword word_ word. (word)",
    "wordword word",
    " fix \ufb01x fixing",
    "<mask><mask>[SEP][SEP]",
    "hello world",
]


def build_tiny_flags():
    """A small byte-level BPE with added tokens carrying every flag, built with the reference."""
    from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges = []
    for a, b in [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("\u0120", "w"),
                 ("o", "r"), ("\u0120w", "or"), ("l", "d"), ("\u0120wor", "ld"), ("f", "i")]:
        merges.append((a, b))
        vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"),
                             behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([
        AddedToken("<mask>", lstrip=True, special=True, normalized=False),
        AddedToken("[SEP]", rstrip=True, special=True, normalized=False),
    ])
    tok.add_tokens([
        AddedToken("word", single_word=True, normalized=False),
        AddedToken("\ufb01x", normalized=True),
    ])
    path = DATA / "tiny-flags"
    path.mkdir(exist_ok=True)
    tok.save(str(path / "tokenizer.json"))


# GGUF tokenizer.ggml.pre names -> the pre-tokenizer each stands for, written as the Hugging
# Face files of those families write it where we know them (SmolLM2's and Falcon's), otherwise
# as the regex sequence llama.cpp uses for the name. A Tessera tokenizer built from GGUF
# metadata with that name must encode like these.
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
         r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BLOOM = r" ?[^(\s|.,!?…。，、।۔،)]+"
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
          r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|"
          r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
         r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
         r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}|"
         r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK_V3 = (r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|"
               r"[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


def gguf_pre_tokenizer(name):
    """(normalizer, pre-tokenizer, ignore_merges) the GGUF name stands for."""
    from tokenizers import Regex, normalizers, pre_tokenizers as pt

    def splits(*patterns):
        return pt.Sequence([pt.Split(Regex(p), behavior="isolated") for p in patterns] +
                           [pt.ByteLevel(add_prefix_space=False, use_regex=False)])

    if name == "smollm":  # HuggingFaceTB/SmolLM2-*: tokenizer.json
        return None, pt.Sequence([pt.Digits(individual_digits=True),
                                  pt.ByteLevel(add_prefix_space=False, use_regex=True)]), False
    if name == "falcon":  # tiiuae/falcon-*: tokenizer.json
        return None, pt.Sequence([pt.Punctuation(behavior="contiguous"),
                                  pt.ByteLevel(add_prefix_space=False, use_regex=True),
                                  pt.Digits(individual_digits=False),
                                  pt.Split(Regex("[0-9][0-9][0-9]"), behavior="isolated")]), False
    table = {
        "gpt2": ([GPT2], False), "llama-bpe": ([LLAMA3], True), "dbrx": ([LLAMA3], False),
        "qwen2": ([QWEN2], False), "stablelm2": ([QWEN2], False),
        "starcoder": ([r"\p{N}", GPT2], False), "bloom": ([BLOOM], False),
        "viking": ([BLOOM, r"\p{N}"], False), "tekken": ([TEKKEN], True),
        "gpt-4o": ([GPT4O], False),
        "deepseek-coder": ([r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-퟿]+",
                            r"\p{N}"], False),
        "deepseek-v3": ([r"\p{N}{1,3}", r"[一-龥぀-ゟ゠-ヿ]+", DEEPSEEK_V3], False),
    }
    patterns, ignore_merges = table[name]
    normalizer = normalizers.NFC() if name == "qwen2" else None
    return normalizer, splits(*patterns), ignore_merges


GGUF_PRE_NAMES = ["gpt2", "llama-bpe", "dbrx", "qwen2", "stablelm2", "smollm", "starcoder",
                  "falcon", "bloom", "viking", "tekken", "gpt-4o", "deepseek-coder",
                  "deepseek-v3"]


def gguf_pre_goldens():
    """Llama 3.1's vocabulary and merges under every GGUF pre-tokenizer name."""
    from tokenizers import models
    base = json.loads((DATA / "llama-3.1" / "tokenizer.json").read_text())
    vocab = base["model"]["vocab"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)
              for m in base["model"]["merges"]]
    out = {}
    for name in GGUF_PRE_NAMES:
        normalizer, pre, ignore_merges = gguf_pre_tokenizer(name)
        tok = Tokenizer.from_file(str(DATA / "llama-3.1" / "tokenizer.json"))
        tok.model = models.BPE(vocab, merges, ignore_merges=ignore_merges)
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        out[name] = [tok.encode(text, add_special_tokens=False).ids for text in CORPUS]
    path = DATA / "gguf-pre" / "goldens.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"generator": "scripts/gen_tokenizer_goldens.py",
                                "tokenizers_version": tokenizers.__version__,
                                "vocabulary": "llama-3.1", "corpus": CORPUS, "ids": out},
                               ensure_ascii=True) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(out)} names x {len(CORPUS)} texts")


def build_tiny_pipelines():
    """Small BPEs trained by the reference on the corpus, one per set of pipeline components
    that popular tokenizer.json files use and the three real files do not: Metaspace
    (Mistral/Llama-2-era files), Digits/WhitespaceSplit/Punctuation with Strip/Lowercase/
    regex Replace/StripAccents, and Whitespace/BertPreTokenizer."""
    from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers as pt, trainers
    specials = ["<unk>", "<s>", "</s>"]
    pipelines = {
        "tiny-metaspace": (
            normalizers.NFKC(),
            pt.Metaspace(replacement="\u2581", prepend_scheme="first", split=True),
            decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)),
        "tiny-words": (
            normalizers.Sequence([normalizers.Strip(left=True, right=True), normalizers.NFD(),
                                  normalizers.StripAccents(), normalizers.Lowercase(),
                                  normalizers.Replace(Regex(r"\s+"), " ")]),
            pt.Sequence([pt.WhitespaceSplit(), pt.Punctuation(behavior="isolated"),
                         pt.Digits(individual_digits=True)]),
            None),
        "tiny-whitespace": (
            normalizers.NFC(),
            pt.Sequence([pt.Whitespace(), pt.Punctuation(behavior="contiguous"),
                         pt.BertPreTokenizer(), pt.Digits(individual_digits=False),
                         pt.CharDelimiterSplit("x")]),
            None),
    }
    for name, (normalizer, pre, decoder) in pipelines.items():
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        tok.decoder = decoder
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                      show_progress=False)
        tok.train_from_iterator(CORPUS + FLAG_CORPUS, trainer)
        path = DATA / name
        path.mkdir(exist_ok=True)
        tok.save(str(path / "tokenizer.json"))


def encode(tok, text, add_special, parse_special=True):
    tok.encode_special_tokens = not parse_special
    try:
        return tok.encode(text, add_special_tokens=add_special).ids
    finally:
        tok.encode_special_tokens = False


def main():
    build_tiny_flags()
    build_tiny_pipelines()
    gguf_pre_goldens()
    for name in NAMES:
        tok = Tokenizer.from_file(str(DATA / name / "tokenizer.json"))
        cases = []
        for text in CORPUS + FLAG_CORPUS:
            ids = encode(tok, text, True)
            cases.append({
                "text": text,
                "ids": ids,
                "ids_no_special": encode(tok, text, False),
                "ids_plain": encode(tok, text, True, parse_special=False),
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip": tok.decode(ids, skip_special_tokens=True),
            })
        rng = random.Random(20241123)
        vocab = tok.get_vocab_size()
        specials = sorted(tok.get_added_tokens_decoder().keys())
        decode_cases = []
        for _ in range(40):
            ids = [rng.randrange(vocab) for _ in range(rng.randint(1, 30))]
            for _ in range(rng.randint(0, 3)):
                ids.insert(rng.randrange(len(ids) + 1), rng.choice(specials))
            skip = rng.random() < 0.5
            decode_cases.append({"ids": ids, "skip_special": skip,
                                 "text": tok.decode(ids, skip_special_tokens=skip)})
        # Prefixes of multi-byte text: unfinished UTF-8 / byte-fallback runs.
        frag = encode(tok, "😀中文 🇫🇷 ok 𝔘𝔫𝔦", False)
        for n in range(1, len(frag) + 1):
            for ids in (frag[:n], frag[n - 1:n], frag[:n][::-1]):
                decode_cases.append({"ids": ids, "skip_special": False,
                                     "text": tok.decode(ids, skip_special_tokens=False)})
        out = {
            "generator": "scripts/gen_tokenizer_goldens.py",
            "tokenizers_version": tokenizers.__version__,
            "vocab_size": vocab,
            "cases": cases,
            "decode_cases": decode_cases,
        }
        path = DATA / name / "goldens.json"
        path.write_text(json.dumps(out, ensure_ascii=True, indent=None) + "\n")
        print(f"{path.relative_to(ROOT)}: {len(cases)} cases, {len(decode_cases)} decode cases")


if __name__ == "__main__":
    main()
