"""`pochta dmarc report [--send] [--xml]` on a real data directory with recorded DMARC results:
the dry run changes nothing, --send queues the report and forgets the rows."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from cli_env import init_data, ok, run
from pochta.config import CONFIG_FILE_NAME, load_settings
from pochta.store.dmarc_model import DmarcRow
from pochta.store.factory import open_store


async def _with_store(data: Path, rows: list[DmarcRow]) -> tuple[int, list[tuple[str, ...]]]:
    store = await open_store(data, load_settings(data / CONFIG_FILE_NAME))
    try:
        for row in rows:
            await store.add_dmarc_result(row)
        left = len(await store.dmarc_results(2**40))
        queued = [tuple(r.address for r in e.recipients) for e in await store.queue_entries()]
        return left, queued
    finally:
        await store.close()


def _row(received: int) -> DmarcRow:
    return DmarcRow(
        received, "example.org", "example.org", "192.0.2.7", "example.net", "example.org",
        json.dumps({"p": "reject", "sp": "reject", "pct": 100, "adkim": "r", "aspf": "r", "fo": "0"}),
        "mailto:dmarc@example.org", "reject", False, False, "", "", json.dumps({"dkim": [], "spf": []}),
    )  # fmt: skip


def test_report_dry_run_then_send(tmp_path: Path) -> None:
    data = init_data(tmp_path / "data")
    assert "no DMARC results recorded" in ok(run("dmarc", "report", data=data))
    assert asyncio.run(_with_store(data, [_row(1000), _row(1001)])) == (2, [])
    out = ok(run("dmarc", "report", "--xml", data=data))
    assert "WOULD GO TO" in out
    assert "dmarc@example.org" in out
    document = out[out.index("<?xml") :]
    root = ET.fromstring(document.encode())
    assert root.findtext("record/row/count") == "2"
    assert asyncio.run(_with_store(data, [])) == (2, [])  # nothing changed
    out = ok(run("dmarc", "report", "--send", data=data))
    assert "QUEUED TO" in out
    assert asyncio.run(_with_store(data, [])) == (0, [("dmarc@example.org",)])
