"""Small ``tokenizer.json`` documents of every HF model family and component, built with HF
``tokenizers``' own Python API and trainers on the bundled corpus (no downloads).

Import it from tests (``import hf_builders``); it is not itself a test module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from tokenforge.data import code_documents, english_paragraphs

__all__ = ["BUILDERS", "build"]


@cache
def _training_texts() -> tuple[str, ...]:
    texts = list(english_paragraphs())[:300] + [d["text"] for d in list(code_documents())[:20]]
    # Some non-Latin text so merges and pieces cover other scripts.
    texts += [
        "Всеобщая декларация прав человека",
        "人人生而自由,在尊严和权利上一律平等。",
        "Ελληνικά κείμενα",
    ] * 5
    return tuple(texts)


def _train(tok: Tokenizer, trainer: object) -> Tokenizer:
    tok.train_from_iterator(list(_training_texts()), trainer=trainer)
    return tok


def bert_wordpiece() -> Tokenizer:
    """all-MiniLM / BERT uncased: BertNormalizer, BertPreTokenizer, WordPiece, [CLS] $A [SEP]."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=30))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    _train(tok, trainers.WordPieceTrainer(vocab_size=1500, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return tok


def cased_wordpiece() -> Tokenizer:
    """Cased BERT with accents kept, Chinese chars split, punctuation and digit pre-tokenizers."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(True)]
    )
    tok.decoder = decoders.WordPiece(cleanup=False)
    _train(tok, trainers.WordPieceTrainer(vocab_size=1200, special_tokens=["[UNK]", "[CLS]", "[SEP]"]))
    tok.post_processor = processors.BertProcessing(
        ("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]"))
    )
    return tok


def t5_unigram() -> Tokenizer:
    """T5-style Unigram: NFKC + whitespace collapse, WhitespaceSplit + Metaspace, $A </s>."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    _train(
        tok,
        trainers.UnigramTrainer(
            vocab_size=1500, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
        ),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return tok


def unigram_byte_fallback() -> Tokenizer:
    """Unigram with byte fallback pieces, Metaspace (first, no split), NFD + StripAccents +
    Lowercase, ByteFallback + Metaspace decoders."""
    tok = t5_unigram()
    doc = json.loads(tok.to_str())
    vocab = doc["model"]["vocab"]
    have = {p for p, _ in vocab}
    vocab += [[f"<0x{b:02X}>", -20.0] for b in range(256) if f"<0x{b:02X}>" not in have]
    doc["model"]["byte_fallback"] = True
    out = Tokenizer.from_str(json.dumps(doc))
    out.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()]
    )
    out.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    out.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(prepend_scheme="first")])
    return out


def llama_bpe() -> Tokenizer:
    """Llama-2 style: Prepend + Replace normalizers, no pre-tokenizer, character BPE with
    byte_fallback and fuse_unk, Replace/ByteFallback/Fuse/Strip decoders, <s> $A."""
    base = Tokenizer(models.BPE(unk_token="<unk>"))
    base.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    base.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never", split=True)
    _train(
        base,
        trainers.BpeTrainer(vocab_size=1800, special_tokens=["<unk>", "<s>", "</s>"], max_token_length=12),
    )
    doc = json.loads(base.to_str())
    vocab = doc["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    # Drop a few rare characters so byte fallback and the unknown token both occur.
    doc["model"].update(byte_fallback=True, fuse_unk=True)
    doc["pre_tokenizer"] = None
    doc["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ],
    }
    tok = Tokenizer.from_str(json.dumps(doc))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return tok


def suffix_bpe() -> Tokenizer:
    """Classic BPE: continuing_subword_prefix + end_of_word_suffix, Whitespace, BPEDecoder."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    _train(tok, trainers.BpeTrainer(vocab_size=1200, special_tokens=["<unk>"], end_of_word_suffix="</w>"))
    return tok


def prefix_bpe() -> Tokenizer:
    """BPE with a continuing-subword prefix and unknowns (no fusing), CharDelimiterSplit."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.NFKD()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.CharDelimiterSplit(" "), pre_tokenizers.Split(Regex(r"\d+|[,.;]"), "isolated")]
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    _train(tok, trainers.BpeTrainer(vocab_size=900, special_tokens=["[UNK]"], continuing_subword_prefix="##"))
    return tok


def wordlevel() -> Tokenizer:
    """WordLevel over Whitespace pieces, lowercased, with an NMT normalizer and a CTC decoder."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Nmt(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.CTC()
    _train(tok, trainers.WordLevelTrainer(vocab_size=2000, special_tokens=["<pad>", "<unk>"]))
    return tok


def split_behaviors() -> Tokenizer:
    """WordLevel over every Split behavior in sequence, plus inverted splits."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(" ", "merged_with_next"),
            pre_tokenizers.Split(Regex(r"[aeiou]"), "merged_with_previous"),
            pre_tokenizers.Split(Regex(r"\p{P}"), "contiguous"),
            pre_tokenizers.Split(Regex(r"\d"), "removed"),
            pre_tokenizers.Split(Regex(r"[A-Z]+"), "isolated", invert=True),
        ]
    )
    _train(tok, trainers.WordLevelTrainer(vocab_size=3000, special_tokens=["<unk>"]))
    return tok


BUILDERS: dict[str, Callable[[], Tokenizer]] = {
    f.__name__: f
    for f in (
        bert_wordpiece,
        cased_wordpiece,
        t5_unigram,
        unigram_byte_fallback,
        llama_bpe,
        suffix_bpe,
        prefix_bpe,
        wordlevel,
        split_behaviors,
    )
}


@cache
def build(name: str) -> str:
    """The ``tokenizer.json`` text of one builder (cached per process)."""
    return BUILDERS[name]().to_str()
