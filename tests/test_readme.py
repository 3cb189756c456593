"""Every ```python block of README.md runs, in order, in one namespace."""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 5


def test_readme_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(BLOCKS, start=1):
        try:
            exec(compile(block, f"README.md block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            if FREE_THREADED and isinstance(exc, ModuleNotFoundError):
                raise  # conftest skips it, naming the dependency with no free-threaded wheel
            pytest.fail(f"README.md python block {number} failed: {exc!r}\n{block}")
    assert "disallowed special token" in capsys.readouterr().out


def test_readme_cli_lines_are_real_commands() -> None:
    from tokenforge.cli import build_parser

    shell = "\n".join(re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S))
    commands = {line.split()[1] for line in shell.splitlines() if line.startswith("tokenforge ")}
    assert commands
    parser_commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert commands <= parser_commands, commands - parser_commands
