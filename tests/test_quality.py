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


def _forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_PURE)


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_import_no_io(package: str) -> None:
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in _imports(path):
            if _forbidden(name):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def _import_time_imports(path: Path) -> set[str]:
    """What importing ``path`` imports: its import statements outside function bodies and outside
    ``if TYPE_CHECKING:`` (a function's own import runs only when it is called), each ``from m
    import n`` also as ``m.n`` (``n`` may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return names


def _module_file(name: str) -> Path | None:
    """The source file of a pochta module (None for a name that is not one: a class, a function)."""
    base = SRC.parent.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def test_pure_packages_import_no_io_down_the_chain() -> None:
    """A pure module may use other pochta modules (``mail.flags``, ``config``, ``plural``) when they
    are pure too: importing a pure module must not import the store, the server or I/O at all, by
    any chain of pochta modules (the packages, parents of each module, run on the way)."""
    start = [path for package in PURE_PACKAGES for path in sorted((SRC / package).rglob("*.py"))]
    came_from: dict[Path, Path | None] = dict.fromkeys(start)
    todo = list(start)
    offenders = []
    while todo:
        path = todo.pop()
        for name in sorted(_import_time_imports(path)):
            if _forbidden(name):
                chain = [path]
                while (parent := came_from[chain[-1]]) is not None:
                    chain.append(parent)
                offenders.append(" <- ".join(str(p.relative_to(ROOT)) for p in chain) + f" imports {name}")
            if name != "pochta" and not name.startswith("pochta."):
                continue
            parts = name.split(".")
            for depth in range(2, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
                module = _module_file(".".join(parts[:depth]))
                if module is not None and module not in came_from:
                    came_from[module] = path
                    todo.append(module)
    assert offenders == []
    assert SRC / "mail" / "flags.py" in came_from  # the walk follows pochta imports (proto/imap/selected.py)
    assert SRC / "proto" / "jmap" / "mail" / "email_get.py" in came_from  # and reaches into proto/jmap


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


def test_test_module_names_are_unique() -> None:
    # pytest imports test modules by basename (rootdir-relative, no __init__.py): two files of one
    # name in different directories make the whole run fail at collection ("import file mismatch").
    seen: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        other = seen.setdefault(path.name, path)
        assert other == path, f"{path.relative_to(ROOT)} and {other.relative_to(ROOT)} share a name"
