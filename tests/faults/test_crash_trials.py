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


def test_two_trials_pass_and_a_run_resumes(tmp_path: Path) -> None:
    root = tmp_path / "run"
    status, output = _run("--trials", "2", "--seed", "7", "--data-root", str(root))
    assert status == 0, output
    assert _summary(output)[:2] == (2, 0), output
    assert "trial 2/2" in output
    status, output = _run("--trials", "3", "--data-root", str(root))
    assert status == 0, output
    assert "resuming" in output, output
    assert "trial 3/3" in output, output
    assert "trial 1/" not in output  # the first two were not run again
    assert _summary(output)[:2] == (3, 0), output


def test_a_lost_message_and_a_reused_uid_are_violations(tmp_path: Path) -> None:
    """The model says a message was acknowledged into bob's INBOX that the store does not hold, and
    that UIDs up to a million more were handed out in Drafts than the store's UIDNEXT allows."""
    root = tmp_path / "run"
    status, output = _run("--trials", "1", "--seed", "11", "--data-root", str(root))
    assert status == 0, output
    state_file = root / "state.json"
    state = json.loads(state_file.read_text())
    state["places"]["s999x1"] = {"bob@example.org/INBOX": ["yes", None, False]}
    state["high"]["alice@example.org/Drafts"] += 1_000_000
    state_file.write_text(json.dumps(state))
    status, output = _run("--trials", "2", "--data-root", str(root))
    assert status == 1, output
    assert "VIOLATION trial 2: bob@example.org/INBOX: acknowledged s999x1 is missing" in output, output
    assert re.search(r"VIOLATION trial 2: alice@example.org/Drafts: (new message|UIDNEXT)", output), output
    assert _summary(output)[1] >= 2


@pytest.mark.slow
def test_forty_trials(tmp_path: Path) -> None:
    status, output = _run("--trials", "40", "--data-root", str(tmp_path / "run"), timeout=1800)
    assert status == 0, output
    trials, violations, smtp = _summary(output)
    assert (trials, violations) == (40, 0), output
    assert smtp > 0, output
