"""``bench/crash_trials.py`` runs (a couple of trials here, more in the slow set), and its checks bite.

The script is the long SIGKILL test (the lead runs 1,000 trials); these tests keep it from rotting:
it must pass on a healthy server, resume from its state file, and fail (exit 1, naming the
violation) when the store does not hold what was acknowledged.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "crash_trials.py"
SUMMARY = re.compile(r"^crash_trials: trials=(\d+) violations=(\d+) smtp=(\d+) ", re.MULTILINE)


def _run(*args: str, timeout: float = 600) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )
    return result.returncode, result.stdout + result.stderr


def _summary(output: str) -> tuple[int, int, int]:
    found = SUMMARY.search(output)
    assert found, output
    trials, violations, smtp = (int(g) for g in found.groups())
    return trials, violations, smtp


def test_two_trials_pass_then_a_resumed_run_finds_what_was_lost(tmp_path: Path) -> None:
    """Two trials pass. Then the model is doctored: it says a message was acknowledged into bob's
    INBOX that the store does not hold, and that UIDs a million above the store's UIDNEXT were handed
    out in Drafts. The resumed run (trial 3 only) must report both and exit 1."""
    root = tmp_path / "run"
    status, output = _run("--trials", "2", "--seed", "7", "--data-root", str(root))
    assert status == 0, output
    assert _summary(output)[:2] == (2, 0), output
    assert "trial 2/2" in output

    state_file = root / "state.json"
    state = json.loads(state_file.read_text())
    state["places"]["s999x1"] = {"bob@example.org/INBOX": ["yes", None, False]}
    state["high"]["alice@example.org/Drafts"] += 1_000_000
    state_file.write_text(json.dumps(state))
    status, output = _run("--trials", "3", "--data-root", str(root))
    assert status == 1, output
    assert "resuming" in output, output
    assert "trial 1/" not in output  # the first two were not run again
    assert "VIOLATION trial 3: bob@example.org/INBOX: acknowledged s999x1 is missing" in output, output
    assert re.search(r"VIOLATION trial 3: alice@example.org/Drafts: (new message|UIDNEXT)", output), output
    trials, violations, _ = _summary(output)
    assert trials == 3, output
    assert violations >= 2, output


@pytest.mark.slow
def test_forty_trials(tmp_path: Path) -> None:
    status, output = _run("--trials", "40", "--data-root", str(tmp_path / "run"), timeout=1800)
    assert status == 0, output
    trials, violations, smtp = _summary(output)
    assert (trials, violations) == (40, 0), output
    assert smtp > 0, output
