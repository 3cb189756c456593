"""SentencePiece models in evaluation (read by tokenforge itself), the ``tokenforge eval`` command,
and the sweep."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge import data
from tokenforge.cli import main
from tokenforge.eval import Corpus, CorpusPart, evaluate
from tokenforge.eval.sweep import fit_log_curve, parse_vocab_sizes, sweep

from toys import PATTERN


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spm = pytest.importorskip("sentencepiece")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(data.english_paragraphs()[:300]),
        model_writer=model,
        vocab_size=500,
        model_type="bpe",
        byte_fallback=True,
        minloglevel=2,
    )
    path = tmp_path_factory.mktemp("spm") / "tiny.model"
    path.write_bytes(model.getvalue())
    return path


def test_sentencepiece_model(spm_model: Path) -> None:
    corpus = Corpus(
        "mixed", (CorpusPart("en", ("The cat sat on the mat.",)), CorpusPart("ja", ("猫が座った",)))
    )
    try:
        tf.load(spm_model)
    except tf.UnsupportedTokenizerError as exc:
        pytest.skip(f"tokenforge does not load this family yet: {exc}")
    result = evaluate(str(spm_model), corpus, samples=True)
    assert result.tokenizers[0].kind.endswith("Tokenizer")
    en, ja = result.results[0].languages
    assert en.tokens > 5 and en.fertility is not None and en.fertility >= 1.0
    # Unseen characters become <0xNN> byte pieces: all of the Japanese tokens here are byte fallback.
    assert ja.byte_fallback_rate is not None and ja.byte_fallback_rate > 0.8
    assert en.lossy_segments == 0  # the leading space SentencePiece adds is not a loss
    assert result.samples and "tiny" in result.samples[0].pieces


# Run in a fresh interpreter where `import sentencepiece` fails (a meta-path finder refuses it), so
# nothing imported earlier in the test session can stand in for it.
_WITHOUT_SENTENCEPIECE = """
import json, sys

class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "sentencepiece" or name.startswith("sentencepiece."):
            raise ImportError("sentencepiece is blocked for this test")
        return None

sys.meta_path.insert(0, _Refuse())
from tokenforge.cli import main

code = main(json.loads(sys.argv[1]))
assert "sentencepiece" not in sys.modules, "sentencepiece was imported"
sys.exit(code)
"""


def test_cli_eval_of_every_family_without_sentencepiece(tmp_path: Path) -> None:
    """``tokenforge eval`` of a SentencePiece .model (with a precompiled charsmap), a WordPiece
    tokenizer.json and cl100k_base on the UDHR, with the ``sentencepiece`` package unimportable."""
    home = Path(os.environ.get("TOKENFORGE_HOME") or Path.home() / ".cache" / "tokenforge")
    model = home / "test-tokenizers" / "spm-botchan-unigram" / "tokenizer.model"
    wordpiece = home / "test-tokenizers" / "minilm-l6-v2" / "tokenizer.json"
    if not (model.is_file() and wordpiece.is_file()):
        pytest.fail("real test tokenizers missing: run `make test-tokenizers`")
    out_json = tmp_path / "r.json"
    args = ["eval", "-t", str(model), "-t", str(wordpiece), "-t", "cl100k_base"]
    args += ["--corpus", "udhr:eng,deu_1996,jpn", "--json", str(out_json), "-q", "--strict"]
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SENTENCEPIECE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out_json.read_text())
    assert len(results["tokenizers"]) == 3 and not results["failures"]


def test_cli_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "p.tsv"
    corpus.write_text("eng\tdeu\nAll human beings are born free.\tAlle Menschen sind frei geboren.\n")
    report, out_json = tmp_path / "r.html", tmp_path / "r.json"
    args = ["eval", "-t", "cl100k_base", "-t", "no-such-tokenizer", "--corpus", str(corpus)]
    code = main([*args, "--report", str(report), "--json", str(out_json), "-q", "--languages"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| cl100k_base | p.tsv |" in printed and "could not load" in printed
    doc = json.loads(out_json.read_text())
    assert (
        doc["summary"][0]["tokenizer"] == "cl100k_base"
        and doc["failures"][0]["tokenizer"] == "no-such-tokenizer"
    )
    assert report.read_text().startswith("<!DOCTYPE html>")
    assert main(["eval", "-t", "cl100k_base", "--corpus", str(corpus), "-q", "--strict", "-t", "nope"]) == 1
    assert main(["eval", "-t", "cl100k_base", "--corpus", "no-such-corpus", "-q"]) == 2


def _fake_trainer(texts: Sequence[str], vocab_size: int) -> tf.Tokenizer:
    """Bytes plus the most frequent whole pieces: a bigger vocabulary covers more of the text."""
    import re
    from collections import Counter

    pieces = Counter(p.encode() for t in texts for p in re.findall(PATTERN, t) if len(p.encode()) > 1)
    ranks = {bytes([b]): b for b in range(256)}
    for piece, _n in pieces.most_common(max(0, vocab_size - 256)):
        ranks[piece] = len(ranks)
    return tf.Tokenizer.from_ranks(ranks, pattern=PATTERN)


def test_sweep_with_a_fake_trainer() -> None:
    result = sweep(_fake_trainer, "udhr:eng,deu_1996,fra", "300,600,1200,2400")
    assert result.vocab_sizes == [300, 600, 1200, 2400]
    for key in ("eng", "deu_1996", "fra"):
        tokens = result.tokens[key]
        assert all(a is not None and b is not None and a > b for a, b in itertools.pairwise(tokens))
        assert all(b is not None and b > 1 for b in result.bytes_per_token[key])
    assert result.premiums["eng"] == [1.0] * 4
    assert result.target_tokens == result.tokens["eng"][-1]
    # German costs more than English at every size, so it needs a larger vocabulary to reach the target.
    v_de = result.optimal_vocab["deu_1996"]
    assert v_de is not None and v_de > result.optimal_vocab["eng"]  # type: ignore[operator]
    assert "V*" in result.to_markdown() and "<svg" in result.to_html()
    json.loads(result.to_json())
    per_lang = sweep(_fake_trainer, "udhr:eng,fra", [300, 1200], per_language=True)
    assert per_lang.per_language and per_lang.tokens["fra"][0] > per_lang.tokens["fra"][1]  # type: ignore[operator]


def test_sweep_reports_a_failing_trainer() -> None:
    def broken(texts: Sequence[str], vocab_size: int) -> tf.Tokenizer:
        if vocab_size > 500:
            raise RuntimeError("out of memory")
        return _fake_trainer(texts, vocab_size)

    result = sweep(broken, "udhr:eng,fra", [300, 1000])
    assert result.failures == ["V=1000: RuntimeError: out of memory"]
    assert result.tokens["fra"][1] is None


def test_sweep_helpers() -> None:
    assert parse_vocab_sizes("8k,16k, 32000,1Ki") == [1024, 8000, 16000, 32000]
    with pytest.raises(tf.InvalidArgumentError):
        parse_vocab_sizes("big")
    a, b = fit_log_curve([10, 100, 1000], [30.0, 20.0, 10.0])  # type: ignore[misc]
    assert b == pytest.approx(-10 / 2.302585092994046) and a == pytest.approx(40.0 + 0.0, abs=1e-9)
    assert fit_log_curve([10], [1.0]) is None
