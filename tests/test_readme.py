"""The README's commands must work as written after `sh install.sh`, which does not put `pochta` on
PATH: every command line in its shell blocks calls `.venv/bin/pochta` (or `.venv/bin/python`)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def shell_lines(text: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_no_bare_pochta_command_in_the_readme() -> None:
    lines = shell_lines(README.read_text(encoding="utf-8"))
    assert lines
    for line in lines:
        for command in re.split(r"&&|\|", line.split("#", 1)[0]):
            words = command.split()
            assert not words or words[0] != "pochta", f"README: {line!r} calls a bare `pochta`"
            if words and "pochta" in words[0]:
                assert words[0] == ".venv/bin/pochta", line
