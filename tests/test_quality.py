"""Static checks that belong to the test run: mypy strict, ruff, and the sans-IO import rule."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "pochta"

# DESIGN.md: protocol cores, the MIME parser and the Sieve language are pure; they never import I/O
# or the store.
PURE_PACKAGES = ("proto", "mime", "sieve")
FORBIDDEN_IN_PURE = {
    "asyncio",
    "socket",
    "ssl",
    "selectors",
    "sqlite3",
    "sqlalchemy",
    "pochta.store",
    "pochta.server",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_import_no_io(package: str) -> None:
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_PURE):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_asyncio_wait_for_in_src() -> None:
    # Python 3.11's asyncio.wait_for returns the inner result when a cancellation arrives as the
    # inner awaitable completes, so the cancellation is lost (CPython gh-86296): a queue worker
    # woken at the moment it was cancelled went on polling for ever, and its test hung. asyncio.timeout
    # does not lose it.
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "src").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "wait_for(" in line and not line.lstrip().startswith("#")
    ]
    assert offenders == []
