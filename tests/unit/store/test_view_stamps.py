"""``view_stamps``: the mailbox change counters every process of a data directory maps."""

from __future__ import annotations

from pathlib import Path

from pochta.store.sqlite.view_stamps import SLOTS, WHOLE_DATABASE, ViewStamps


def test_processes_mapping_the_file_see_each_others_bumps(tmp_path: Path) -> None:
    path = tmp_path / "run" / "view-stamps"
    first, second = ViewStamps(path), ViewStamps(path)
    try:
        assert (first.read(7), first.read(8), first.read_any()) == (0, 0, 0)
        second.bump([7, 7, 7])  # one commit touching a mailbox counts once
        assert (first.read(7), first.read(8), first.read_any()) == (1, 0, 1)
        first.bump([8, 7 + SLOTS])  # ids sharing a slot share a counter
        assert (second.read(7), second.read(8)) == (2, 1)
        assert first.read_any() == 2
        second.bump([WHOLE_DATABASE])
        assert (first.read(7), first.read(8), first.read(12345)) == (3, 2, 1)
        assert first.read_any() == 4
    finally:
        first.close()
        second.close()
    # Opened again (a new process): nothing reset, the file not truncated.
    third = ViewStamps(path)
    try:
        assert (third.read(7), third.read(8)) == (3, 2)
    finally:
        third.close()
