"""Texts for tokenizer parity tests: every text must encode to the same ids in tokenforge and in
the reference implementation.

Import it from tests (``import parity_corpus``); it is not itself a test module.

* :func:`parity_texts`: English prose, source code, the UDHR in every shipped language and
  :func:`adversarial_texts`, as ``(label, text)`` pairs with unique, ``/``-separated labels.
* :func:`texts_without_specials`: the same without anything that looks like a special token,
  for encoders that reject special tokens in plain text.
* :func:`summary`: counts and UTF-8 bytes, per group.

Everything is deterministic: the only randomness is a fixed-seed SplitMix64 generator written
out here, so the texts do not depend on the Python version's ``random`` module. Every text is
a valid ``str`` that encodes to UTF-8 (no lone surrogates).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from tokenforge.data import code_documents, english_paragraphs, udhr_languages, udhr_text

__all__ = [
    "SPECIAL_LOOKALIKES",
    "WHITESPACE",
    "adversarial_texts",
    "code_texts",
    "english_texts",
    "parity_texts",
    "summary",
    "texts_without_specials",
    "udhr_texts",
]

Text = tuple[str, str]

SEED = 0x70_6B_65_6E  # fixed: the corpus must be identical on every run

# Every code point that Unicode or a common regex engine treats as a separator, plus the
# zero-width ones (U+200B, U+FEFF) that look like whitespace but are not \s.
WHITESPACE: tuple[str, ...] = tuple(
    chr(cp)
    for cp in (
        *range(0x09, 0x0E),
        0x20,
        0x85,
        0xA0,
        0x1680,
        *range(0x2000, 0x200B),
        0x2028,
        0x2029,
        0x202F,
        0x205F,
        0x3000,
        0xFEFF,
        0x200B,
    )
)

# Strings shaped like special tokens of common encodings, real ones and near misses.
SPECIAL_LOOKALIKES: tuple[str, ...] = (
    "<|endoftext|>",
    "<|endoftext",
    "endoftext|>",
    "< |endoftext| >",
    "<| endoftext |>",
    "<|ENDOFTEXT|>",
    "<|endoftext|>" * 3,
    "<<|endoftext|>>",
    "<|im_start|>",
    "<|im_end|>",
    "<|im_sep|>",
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>user<|end_header_id|>",
    "<|eot_id|>",
    "<|reserved_special_token_0|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|endofprompt|>",
    "<||>",
    "<|",
    "|>",
    "\uff1c\uff5cendoftext\uff5c\uff1e",  # fullwidth < | | >
    "<s>",
    "</s>",
    "<unk>",
    "<pad>",
    "[CLS]",
    "[SEP]",
    "[INST]",
    "[/INST]",
)

# What a tokenizer could recognise as a special token: <|name|> with nothing odd inside.
_SPECIAL_SHAPE = re.compile(r"<\|[^<>|\s]*\|>")

_MASK64 = (1 << 64) - 1


class _Rng:
    """SplitMix64: tiny, fast enough, and the same on every Python version."""

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK64

    def next64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next64() % n

    def choice(self, items: Sequence[str]) -> str:
        return items[self.below(len(items))]

    def text(self, alphabet: Sequence[str], length: int) -> str:
        # Eight draws per 64-bit word; the slight modulo bias does not matter here.
        out: list[str] = []
        size = len(alphabet)
        while len(out) < length:
            word = self.next64()
            for _ in range(8):
                out.append(alphabet[(word & 0xFF) % size])
                word >>= 8
        return "".join(out[:length])

    def shuffled(self, items: Sequence[Text]) -> list[Text]:
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out


def _u(cp: int) -> str:
    return f"U+{cp:04X}"


# --- shipped data -----------------------------------------------------------------------------


def english_texts() -> list[Text]:
    """Brown paragraphs grouped, in corpus order, into texts of roughly 2 to 10 KB."""
    targets = (2_000, 4_000, 6_000, 8_000, 10_000)  # cycling sizes exercise chunk boundaries
    texts: list[Text] = []
    current: list[str] = []
    size = 0
    for paragraph in english_paragraphs():
        current.append(paragraph)
        size += len(paragraph.encode()) + 1
        if size >= targets[len(texts) % len(targets)]:
            texts.append((f"english/{len(texts):03d}", "\n".join(current)))
            current, size = [], 0
    if current:
        if texts and size < targets[0]:
            label, text = texts.pop()
            texts.append((label, text + "\n" + "\n".join(current)))
        else:
            texts.append((f"english/{len(texts):03d}", "\n".join(current)))
    return texts


def code_texts() -> list[Text]:
    return [(f"code/{doc['lang']}/{doc['path']}", doc["text"]) for doc in code_documents()]


def udhr_texts() -> list[Text]:
    return [(f"udhr/{lang['code']}", udhr_text(lang["code"])) for lang in udhr_languages()]


# --- adversarial ------------------------------------------------------------------------------


def _long_runs(rng: _Rng) -> list[Text]:
    punctuation = string.punctuation
    newline_mix = ("\r", "\n", "\r\n", "\r\n", " ", "\t")
    return [
        ("a_100k", "a" * 100_000),
        ("spaces_50k", " " * 50_000),
        ("spaces_50k_then_word", " " * 50_000 + "word"),
        ("newlines_20k", "\n" * 20_000),
        ("crlf_10k", "\r\n" * 10_000),
        ("cr_10k", "\r" * 10_000),
        ("newline_mix_20k", "".join(rng.choice(newline_mix) for _ in range(20_000))),
        (
            "crlf_runs_between_words",
            "".join(f"w{i}" + "\r\n" * (i % 7) + " " * (i % 3) for i in range(2_000)),
        ),
        ("space_newline_5k", " \n" * 5_000),
        ("tabs_10k", "\t" * 10_000),
        (
            "tab_space_indent",
            "".join("\t" * (i % 4) + " " * (i % 5) + f"x{i}\n" for i in range(2_000)),
        ),
        ("digits_10k", ("0123456789" * 1_000)),
        ("sevens_10k", "7" * 10_000),
        ("bang_10k", "!" * 10_000),
        ("dots_10k", "." * 10_000),
        ("dashes_10k", "-" * 10_000),
        ("equals_5k", "=" * 5_000),
        ("interrobang_pairs_5k", "?!" * 5_000),
        ("ellipsis_5k", "\u2026" * 5_000),
        ("punctuation_random_20k", rng.text(punctuation, 20_000)),
        ("alternating_a_space_40k", "a " * 20_000),
        ("quote_run_5k", "'" * 5_000),
    ]


def _whitespace(rng: _Rng) -> list[Text]:
    texts: list[Text] = []
    for ws in WHITESPACE:
        name = _u(ord(ws))
        texts += [
            (f"alone/{name}", ws),
            (f"run/{name}", ws * 256),
            (f"start/{name}", ws + "word"),
            (f"words/{name}", f"hello{ws}world{ws}{ws}again{ws * 3}end. Sentence{ws}two"),
            (
                f"lines/{name}",
                f"line{ws}\nnext{ws}{ws}\n{ws}indented\n\n{ws}\n{ws}{ws}last{ws}\r\n{ws}x",
            ),
            (f"end/{name}", f"ends here{ws}"),
            (f"end_run/{name}", f"ends here{ws * 5}"),
            (f"end_newline/{name}", f"ends here{ws}\n"),
        ]
    words = ("a", "the", "of", "tokenizer", "x1", "\u00e9t\u00e9", "\u65e5\u672c", "'s", ".", "!!")
    texts += [
        ("all_kinds", "".join(WHITESPACE)),
        ("all_kinds_between_words", "".join(f"w{ws}" for ws in WHITESPACE) + "w"),
        ("all_pairs", "".join(f"w{a}{b}" for a in WHITESPACE for b in WHITESPACE) + "w"),
        (
            "random_mix",
            "".join(rng.choice(WHITESPACE) * (1 + rng.below(3)) + rng.choice(words) for _ in range(3_000)),
        ),
    ]
    return [(f"whitespace/{label}", text) for label, text in texts]


def _mixed_scripts() -> list[Text]:
    words = (
        "hello\u043c\u0438\u0440",  # Latin + Cyrillic
        "Tokyo\u6771\u4eacTower",
        "abc\u03b1\u03b2\u03b3\u0430\u0431\u0432",
        "\u65e5\u672c\u8a9eEnglish\u30c6\u30ad\u30b9\u30c8\ud55c\uad6d\uc5b4",
        "\u0639\u0631\u0628\u064aLatin\u0639\u0631\u0628\u064a",
        "\u05e9\u05dc\u05d5\u05ddworld",
        "\u0928\u092e\u0938\u094d\u0924\u0947hello",
        "\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03acgreek",
        "\u0440\u0430\u0443\u0440\u0430l",  # Cyrillic look-alikes of Latin letters
        "\u13a0\u13a1latin",  # Cherokee
        "x\u00b2y\u00b3",
        "\u210cello",
        "\ufb01nance \ufb02ow",  # ligatures
        "Stra\u00dfe STRASSE \u1e9e",
        "\u0130stanbul \u0131i",
        "\u01c5emal \u01c4EMAL",  # title-case digraph
        "camelCase\u039a\u03b1\u03bc\u03ae\u03bb\u03b1",
        "snake_case_\u0437\u043c\u0435\u044f",
        "123abc456",
        "abc\u0661\u0662\u0663def",
        "tag#hash@mention",
        "https://example.com/\u8def\u5f84?q=\u0437\u043d\u0430\u0447\u0435\u043d\u0438\u0435&x=1",
        "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22Thai",
        "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8kartuli",
        "\U0001d400\U0001d401\U0001d402abc",  # mathematical bold letters
        "\U00010330\U00010331gothic",
    )
    return [
        *((f"mixed_script/word_{i:02d}", w) for i, w in enumerate(words)),
        ("mixed_script/spaced", " ".join(words)),
        ("mixed_script/glued", "".join(words)),
    ]


def _combining(rng: _Rng) -> list[Text]:
    marks = [chr(cp) for cp in range(0x300, 0x370)]
    sentence = "the quick brown fox jumps over the lazy dog"

    def zalgo(low: int, high: int) -> str:
        return "".join(
            ch
            + (
                "".join(rng.choice(marks) for _ in range(low + rng.below(high - low + 1)))
                if ch != " "
                else ""
            )
            for ch in sentence
        )

    texts: list[Text] = [
        ("e_acute", "e\u0301"),
        ("e_acute_x3", "e\u0301\u0301\u0301"),
        ("stacked", "a\u0301\u0308\u0323\u0330\u0345 o\u0302\u0303\u0304\u0305\u0306\u0307"),
        ("zalgo_moderate", zalgo(1, 6)),
        ("zalgo_heavy", zalgo(10, 30)),
        ("one_letter_500_marks", "x" + "".join(rng.choice(marks) for _ in range(500)) + "y"),
        ("orphan_at_start", "\u0301abc"),
        ("after_space", "word \u0301word"),
        ("after_newline", "line\n\u0308next"),
        ("marks_only", "\u0301" * 100),
        ("on_digits_and_punct", "1\u0301,\u0301 2\u0308.\u0323 !\u0330"),
        ("enclosing", "a\u20dd b\u20de 1\u20e3"),
        (
            "nfd_latin",
            unicodedata.normalize(
                "NFD",
                "\u00c7a va? \u0110i\u1ec1u ti\u1ebfng Vi\u1ec7t \u00f1 \u00fc \u00c5ngstr\u00f6m",
            ),
        ),
        ("nfd_hangul", unicodedata.normalize("NFD", "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8")),
        ("devanagari_conjunct", "\u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f"),
        ("sinhala_zwj", "\u0dc1\u0dca\u200d\u0dbb\u0dd3"),
        ("thai_tone_marks", "\u0e01\u0e48\u0e33 \u0e19\u0e49\u0e33"),
        (
            "arabic_harakat",
            "\u0628\u0650\u0633\u0652\u0645\u0650 \u0627\u0644\u0644\u0651\u064e\u0647\u0650",
        ),
        ("hebrew_niqqud", "\u05d1\u05bc\u05b0\u05e8\u05b5\u05d0\u05e9\u05c1\u05b4\u05d9\u05ea"),
        ("cgj", "a\u034f\u0301b"),
    ]
    return [(f"combining/{label}", text) for label, text in texts]


def _emoji(rng: _Rng) -> list[Text]:
    zwj = "\u200d"
    vs16 = "\ufe0f"
    tones = [chr(cp) for cp in range(0x1F3FB, 0x1F400)]
    family = zwj.join(["\U0001f468", "\U0001f469", "\U0001f467", "\U0001f466"])
    sequences = {
        "family": family,
        "kiss": zwj.join(["\U0001f469", "\u2764" + vs16, "\U0001f48b", "\U0001f468"]),
        "astronaut_tone": "\U0001f9d1\U0001f3fd" + zwj + "\U0001f680",
        "coder_tone": "\U0001f469\U0001f3ff" + zwj + "\U0001f4bb",
        "rainbow_flag": "\U0001f3f3" + vs16 + zwj + "\U0001f308",
        "pirate_flag": "\U0001f3f4" + zwj + "\u2620" + vs16,
        "polar_bear": "\U0001f43b" + zwj + "\u2744" + vs16,
        "heart_on_fire": "\u2764" + vs16 + zwj + "\U0001f525",
    }

    def flag(cc: str) -> str:
        return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in cc)

    def subdivision(tag: str) -> str:
        return "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in tag) + "\U000e007f"

    flags = "".join(flag(cc) for cc in ("US", "GB", "FR", "DE", "JP", "CN", "IN", "BR", "UA", "ZA"))
    pool = [
        *sequences.values(),
        flag("NO"),
        "\U0001f600",
        "\U0001f44d",
        "\U0001f525",
        "\u2705",
        "\u263a\ufe0e",
    ]
    texts: list[Text] = [
        *((f"zwj/{name}", seq) for name, seq in sequences.items()),
        ("zwj_all", " ".join(sequences.values())),
        ("flags", flags),
        ("flags_spaced", " ".join(flag(cc) for cc in ("US", "GB", "FR", "DE", "JP"))),
        ("flag_unpaired", flag("US") + "\U0001f1ec"),
        ("regional_indicator_alone", "\U0001f1e6"),
        ("subdivision_flags", "".join(subdivision(t) for t in ("gbeng", "gbsct", "gbwls"))),
        (
            "skin_tones",
            " ".join("\U0001f44d" + t for t in tones) + " " + "".join("\U0001f44b" + t for t in tones),
        ),
        ("tone_modifiers_alone", "".join(tones)),
        ("keycaps", "".join(c + vs16 + "\u20e3" for c in "#*0123456789")),
        ("variation_selectors", "\u263a\ufe0e\u263a\ufe0f \u2764 \u2764\ufe0f \u0031\ufe0f"),
        ("in_words", "hello\U0001f44bworld I\u2764\ufe0fNY don't\U0001f602stop 3\U0001f525s"),
        ("grinning_run_2k", "\U0001f600" * 2_000),
        ("random_3k", "".join(rng.choice(pool) for _ in range(3_000))),
    ]
    return [(f"emoji/{label}", text) for label, text in texts]


def _contractions() -> list[Text]:
    items = (
        "I'M",
        "he'S",
        "WE'LL",
        "'ll",
        "''s",
        "\u2019s",
        "'s",
        "'S",
        "I'm he's we'll they're you've I'd it's",
        "I'M HE'S WE'LL THEY'RE YOU'VE I'D IT'S",
        "i'M He'S wE'lL tHeY'rE",
        "I\u2019m he\u2019s we\u2019ll they\u2019re \u2019S \u2019LL \u2019M",
        "'''''''",
        "''s''s''s",
        "'s's",
        " 's",
        "\n'll",
        "x's\n's",
        "don't can't won't shan't y'all'd've",
        "rock 'n' roll",
        "O'Neill O'NEILL o'clock",
        "'tis 'twas",
        "students' books James's",
        "l'homme aujourd'hui qu'il",
        "the '90s 90's '90S",
        "'s123 123's",
        "'\u0301s",
        "\u02bcs",
        "`s",
        "\u00b4s",
        "\uff07s",
    )
    return [
        *((f"contractions/{i:02d}", item) for i, item in enumerate(items)),
        ("contractions/all_spaced", " ".join(items)),
        ("contractions/all_glued", "".join(items)),
        ("contractions/text_ends_with", "it is the dog's"),
        ("contractions/text_ends_with_apostrophe", "the dogs'"),
    ]


def _digits() -> list[Text]:
    texts: list[Text] = []
    for n in range(1, 13):
        d = "123456789012"[:n]
        value = int(d)
        texts.append(
            (
                f"length_{n:02d}",
                " ".join(
                    (
                        d,
                        f"{value:,}",
                        f"{value:_}",
                        f"{value:,}".replace(",", "."),
                        f"{value:,}".replace(",", " "),
                        f"{value:,}".replace(",", "\u00a0"),
                        f"{value:,}".replace(",", "\u2009"),
                        f"{value:,}".replace(",", "\u202f"),
                        f"{value:,}".replace(",", "'"),
                        f"{d}.{d}",
                        f"{d},{d}",
                        f"-{d}",
                        f"+{d}",
                        f"{d}e-{n}",
                        f"{d}%",
                        f"${value:,}.99",
                        f"\u20ac{d}",
                        f"a{d}b",
                        f"x{d}",
                        f"{d}x",
                        f"({d})",
                        f"{d}\n{d}",
                        f"#{d}",
                    )
                ),
            )
        )
        texts.append((f"glued_{n:02d}", d * 3))
    texts += [
        ("every_length_glued", "".join("123456789012"[:n] for n in range(1, 13))),
        ("every_length_alone", "\n".join("9" * n for n in range(1, 13))),
        (
            "formats",
            "12:34:56 2024-01-31 31/01/2024 1.2.3.4 192.168.0.1 +1 (555) 012-3456 "
            "0xDEADBEEF 0b1011 1e10 3.14159 1\u20132 1\u204402",
        ),
    ]
    # Decimal digit blocks: zero of each, its ten digits, a run of twelve and separators.
    zeros = {
        "arabic_indic": 0x660,
        "extended_arabic_indic": 0x6F0,
        "nko": 0x7C0,
        "devanagari": 0x966,
        "bengali": 0x9E6,
        "gurmukhi": 0xA66,
        "gujarati": 0xAE6,
        "tamil": 0xBE6,
        "thai": 0xE50,
        "lao": 0xED0,
        "tibetan": 0xF20,
        "myanmar": 0x1040,
        "khmer": 0x17E0,
        "mongolian": 0x1810,
        "fullwidth": 0xFF10,
        "math_bold": 0x1D7CE,
        "math_double_struck": 0x1D7D8,
        "adlam": 0x1E950,
    }
    for name, zero in zeros.items():
        digits = "".join(chr(zero + i) for i in range(10))
        texts.append(
            (
                f"unicode/{name}",
                f"{digits} {digits}{digits[:2]} {digits[1]}\u066c{digits[2:5]}\u066b{digits[5]} "
                f"{digits[1:4]},{digits[4:7]} 12{digits[3:5]}56 x{digits[7]}y",
            )
        )
    texts += [
        (
            "numeric/superscripts",
            "x\u00b9 x\u00b2 x\u00b3 10\u2074\u2075 H\u2082O CO\u2082 \u2080\u2081\u2082",
        ),
        ("numeric/circled", "\u2460\u2461\u2462 \u2473 \u3251 \u24ea"),
        ("numeric/roman", "\u2160\u2161\u2162 \u216b \u2170\u2171 \u2180"),
        ("numeric/fractions", "\u00bd \u2153 \u00be \u215e 1\u20442"),
        (
            "numeric/cjk",
            "\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u4e03\u516b\u4e5d\u5341\u767e\u5343\u4e07"
            " \u3007 \u58f9\u8cb3",
        ),
        ("numeric/ethiopic", "\u1369\u136a\u136b\u1372\u137c"),
    ]
    return [(f"digits/{label}", text) for label, text in texts]


def _specials() -> list[Text]:
    texts: list[Text] = [(f"alone_{i:02d}", s) for i, s in enumerate(SPECIAL_LOOKALIKES)]
    texts += [
        ("embedded", "hello<|endoftext|>world and <|im_start|>system\nYou are<|im_end|>"),
        ("spaced", " <|endoftext|> \n<|endoftext|>\n"),
        ("all_glued", "".join(SPECIAL_LOOKALIKES)),
        ("all_spaced", " ".join(SPECIAL_LOOKALIKES)),
        ("in_code", 'text = "<|endoftext|>"\nif tok == "<|fim_prefix|>":\n    pass\n'),
    ]
    return [(f"specials/{label}", text) for label, text in texts]


def _unusual_code_points() -> list[Text]:
    points = {
        "private_use": (0xE000, 0xF8FF, 0xF0000, 0xFFFFD, 0x100000, 0x10FFFD),
        "replacement": (0xFFFD,),
        "noncharacters": (0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x1FFFF, 0x10FFFE, 0x10FFFF),
        "unassigned": (0x0378, 0x0E5C, 0x2FFFD, 0xE0080),
        "tags": (0xE0001, 0xE0020, 0xE0041, 0xE007E, 0xE007F),
        "variation_selectors": (0xFE00, 0xFE0F, 0xE0100, 0xE01EF),
        "bidi_controls": (
            0x200E,
            0x200F,
            0x202A,
            0x202B,
            0x202C,
            0x202D,
            0x202E,
            0x2066,
            0x2067,
            0x2068,
            0x2069,
            0x061C,
        ),
        "invisible_format": (
            0x00AD,
            0x2060,
            0x2061,
            0x2062,
            0x2063,
            0x2064,
            0x200C,
            0x200D,
            0x034F,
            0x180E,
        ),
        "annotation_and_object": (0xFFF9, 0xFFFA, 0xFFFB, 0xFFFC),
        "blank_looking": (0x3164, 0xFFA0, 0x115F, 0x1160, 0x2800),
        "astral_letters": (0x10330, 0x12000, 0x1D11E, 0x20000, 0x2A6D6, 0x1F9FF),
    }
    texts: list[Text] = []
    for group, cps in points.items():
        chars = "".join(chr(cp) for cp in cps)
        texts += [(f"{group}/{_u(cp)}", chr(cp)) for cp in cps]
        texts += [
            (f"{group}/run", chars * 8),
            (
                f"{group}/in_words",
                " ".join(f"ab{chr(cp)}cd {chr(cp)}word word{chr(cp)}" for cp in cps),
            ),
        ]
    return [(f"codepoints/{label}", text) for label, text in texts]


def _controls() -> list[Text]:
    cps = (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))
    texts: list[Text] = [(f"alone/{_u(cp)}", chr(cp)) for cp in cps]
    texts += [
        ("between_letters", "".join(f"a{chr(cp)}" for cp in cps) + "a"),
        ("nul_run", "\x00" * 1_000),
        ("nul_at_end", "text\x00"),
        ("escape_sequences", "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x08\x08back"),
        ("form_feed_pages", "page one\x0cpage two\n\x0c\npage three\x0b"),
    ]
    return [(f"controls/{label}", text) for label, text in texts]


def _long_words(rng: _Rng) -> list[Text]:
    cyrillic = [chr(cp) for cp in range(0x430, 0x450)]
    cjk = [chr(cp) for cp in range(0x4E00, 0x9FA0)]
    return [
        ("long_word/latin_200k", rng.text(string.ascii_lowercase, 200_000)),
        ("long_word/mixed_case_20k", rng.text(string.ascii_letters, 20_000)),
        ("long_word/cyrillic_50k", rng.text(cyrillic, 50_000)),
        ("long_word/cjk_30k", rng.text(cjk, 30_000)),
        ("long_word/repeated_word_glued", "tokenization" * 5_000),
    ]


def _mixes(pieces: Sequence[Text], rng: _Rng) -> list[Text]:
    # Each piece is cut to 2,000 characters so that the long runs do not swamp the mix.
    order = rng.shuffled(pieces)
    everything = "".join(text[:2_000] for _label, text in order)
    sources = [text for _label, text in pieces[:: max(1, len(pieces) // 200)]]
    soup: list[str] = []
    for _ in range(4_000):
        text = rng.choice(sources)
        start = rng.below(max(1, len(text)))
        soup.append(text[start : start + 1 + rng.below(24)])
    return [("mix/all", everything), ("mix/soup", "".join(soup))]


def adversarial_texts(include_specials: bool = True) -> list[Text]:
    """Edge cases for pre-tokenisation and byte-level BPE, labelled ``adversarial/...``."""
    rng = _Rng(SEED)
    pieces: list[Text] = [
        *((f"run/{label}", text) for label, text in _long_runs(rng)),
        *_whitespace(rng),
        *_mixed_scripts(),
        *_combining(rng),
        *_emoji(rng),
        *_contractions(),
        *_digits(),
        *_unusual_code_points(),
        *_controls(),
        *_long_words(rng),
    ]
    specials = _specials()
    if include_specials:
        pieces += specials
    # The mixes draw from their own generator, so they depend only on the pieces they mix.
    pieces += _mixes(pieces, _Rng(SEED + 1))
    return [(f"adversarial/{label}", text) for label, text in pieces]


# --- public entry points ----------------------------------------------------------------------


def parity_texts() -> list[Text]:
    """All parity texts: English, code, UDHR (every shipped version) and adversarial cases."""
    return [*english_texts(), *code_texts(), *udhr_texts(), *adversarial_texts()]


def texts_without_specials() -> list[Text]:
    """:func:`parity_texts` without special-token look-alikes and without any ``<|name|>`` shape."""
    texts = [
        *english_texts(),
        *code_texts(),
        *udhr_texts(),
        *adversarial_texts(include_specials=False),
    ]
    return [(label, text) for label, text in texts if not _SPECIAL_SHAPE.search(text)]


def summary(texts: Iterable[Text] | None = None) -> dict[str, Any]:
    """Counts, characters and UTF-8 bytes, in total and per group (``adversarial/emoji``...)."""
    items = parity_texts() if texts is None else list(texts)
    groups: dict[str, dict[str, int]] = {}
    total_bytes = 0
    total_chars = 0
    for label, text in items:
        parts = label.split("/")
        group = "/".join(parts[:2]) if parts[0] == "adversarial" else parts[0]
        size = len(text.encode("utf-8"))
        entry = groups.setdefault(group, {"texts": 0, "chars": 0, "bytes": 0})
        entry["texts"] += 1
        entry["chars"] += len(text)
        entry["bytes"] += size
        total_bytes += size
        total_chars += len(text)
    return {"texts": len(items), "chars": total_chars, "bytes": total_bytes, "groups": groups}


if __name__ == "__main__":
    import json

    print(json.dumps(summary(), indent=1))
