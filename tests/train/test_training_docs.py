"""docs/training.md is the reference of the Unigram, LiB and hybrid options: every config field is
in it, every flag it names is a real `tokenforge train` flag that reaches the config, and its
`tokenforge train` command lines parse."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest

import tokenforge as tf
from tokenforge.cli import build_parser, main
from tokenforge.train import HybridConfig, LibConfig, TrainConfig, UnigramConfig

from .conftest import english

DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("cls", [UnigramConfig, LibConfig, HybridConfig])
def test_every_field_is_documented(cls: type[TrainConfig]) -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)*", _text(), flags=re.M))
    names = {n for group in documented for n in group if n}
    # "`unk_piece`, `bos_piece`, `eos_piece`" rows name three fields.
    names |= set(re.findall(r"`([a-z_]+_piece)`", _text()))
    missing = {f.name for f in dataclasses.fields(cls)} - names
    assert not missing, f"{cls.__name__} fields missing from docs/training.md: {sorted(missing)}"


def test_documented_flags_exist() -> None:
    flags = set(re.findall(r"`(--[a-z-]+)", _text()))
    known = {
        opt
        for action in build_parser()._subparsers._group_actions[0].choices["train"]._actions  # type: ignore[union-attr]
        for opt in action.option_strings
    }
    assert flags and flags <= known, flags - known


def test_command_lines_parse() -> None:
    shell = "\n".join(re.findall(r"```sh\n(.*?)```", _text(), flags=re.S)).replace("\\\n", " ")
    lines = [line.split("#")[0] for line in shell.splitlines() if line.startswith("tokenforge train ")]
    assert len(lines) >= 5
    parser = build_parser()
    for line in lines:
        args = parser.parse_args(shlex.split(line)[1:])
        assert args.vocab_size > 0 and args.output


def test_unigram_flags_reach_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(english()[:150]) + "\n", encoding="utf-8")
    out = tmp_path / "uni"
    argv = ["train", str(corpus), "--algorithm", "unigram", "--vocab-size", "600", "-o", str(out), "-q",
            "--no-split-by-number", "--no-split-by-unicode-script", "--unk-piece", "<u>",
            "--bos-piece", "<b>", "--eos-piece", "<e>", "--seed-sentencepiece-size", "50000",
            "--shrinking-factor", "0.5", "--num-sub-iterations", "1"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["n_vocab"] == 600
    config = TrainConfig.from_json(tf.load(out).spec.metadata["config"])
    assert config == UnigramConfig(
        vocab_size=600,
        split_by_number=False,
        split_by_unicode_script=False,
        unk_piece="<u>",
        bos_piece="<b>",
        eos_piece="<e>",
        seed_sentencepiece_size=50000,
        shrinking_factor=0.5,
        num_sub_iterations=1,
    )
