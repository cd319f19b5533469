"""The `pochta` command's table of subcommands (pochta.cli.COMMANDS) matches what each module
registers: a command missing from it could not be run, a stale entry would fail at lookup."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click
from click.testing import CliRunner

import pochta.cli
from pochta.cli import COMMANDS, main, register_all_of


def test_every_registered_command_is_in_the_table_under_its_module() -> None:
    found: dict[str, tuple[str, str]] = {}
    for info in pkgutil.iter_modules(pochta.cli.__path__):
        module = importlib.import_module(f"pochta.cli.{info.name}")
        for function in [name for name in vars(module) if name.startswith("register_")]:
            if getattr(getattr(module, function), "__module__", "") != module.__name__:
                continue  # imported from elsewhere
            group = click.Group()
            register_all_of(group, (info.name, function))
            for name in group.commands:
                found[name] = (info.name, function)
    assert found == COMMANDS


def test_a_command_loads_only_its_module() -> None:
    # In a fresh interpreter: `pochta acl --help` leaves the HTTP stack, ACME and the delivery
    # pipeline unloaded (each adds to the start of every command).
    script = (
        "import sys\n"
        "from pochta.cli import main\n"
        "try:\n"
        "    main(['acl', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ['pochta.web', 'pochta.acme', 'pochta.delivery.pipeline', 'pochta.queue.worker',"
        " 'starlette']\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "Usage:" in result.stdout, result.stderr
    assert "LOADED []" in result.stdout


def test_help_lists_every_command_and_an_unknown_one_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output or f"  {name}\n" in result.output, name
    assert CliRunner().invoke(main, ["no-such-command"]).exit_code == 2
