"""imaptest (Dovecot's IMAP stress and state checker) against ``pochta serve --workers 2``.

Ten clients on ten accounts run imaptest's default random mix (LOGIN, LIST, STATUS, SELECT, FETCH,
STORE, EXPUNGE, APPEND, LOGOUT) for a few seconds, checking every reply against the state each client
tracks: any ``Error:`` line is a protocol or consistency error of the server. The
messages it APPENDs are the shared corpus's real-world ones. The binary is built by
``sh tests/interop/imaptest/build.sh .tools`` (the shared script on the bundled source with our
``tests/interop/imaptest/*.patch``; ``.ci/run`` does it); found at $POCHTA_IMAPTEST or
``.tools/bin/imaptest``. The throughput figures belong to ``bench/vs_dovecot.py``, not here.

The same mix with ``checkpoint=5``: every 5 s the clients of a mailbox stop, CHECK, and imaptest
compares what each was told (messages, UIDs, flags, keywords, MODSEQs, \\Recent). imaptest 2.3 itself
crashed there (tests/interop/imaptest/checkpoint.patch says how); these runs skip unless the binary
was built with the patches. 15 s in the default suite, 60 s with 10 and 50 clients marked slow.

Then imaptest's scripted compliance tests (session scripts with the replies they expect, two users;
taken from the bundled source archive): every group imaptest runs must pass, with no command
failed. imaptest runs a group only when the server advertises the capabilities its script names:
the SORT (SORT, SORT=DISPLAY, ESORT) and THREAD groups run (their 81 commands pass), the CONDSTORE
group (``esearch-condstore``, 13 commands), the CONTEXT=SEARCH/CONTEXT=SORT groups
(``search-context-update``, ``-update2``, ``-update3``: ADDTO/REMOVEFROM after STORE, EXPUNGE and
APPEND, CANCELUPDATE; ``search-partial``, ``sort-partial``), NOTIFY's (``notify``, 7 commands,
with QRESYNC; also run alone below, so that its running is checked) and the CATENATE groups
(``catenate``, ``catenate-multiappend``, 44 commands); only those needing URLAUTH (3) wait
(docs/imap.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from serve_process import ServeProcess, init_data_dir
from shared_dir import REPO, shared_path

pytestmark = pytest.mark.interop

IMAPTEST = Path(os.environ.get("POCHTA_IMAPTEST", REPO / ".tools" / "bin" / "imaptest"))
CORPUS = shared_path("corpus", "POCHTA_SHARED_CORPUS")
SOURCE = shared_path("conformance/imaptest/imaptest-release-2.3.tar.gz", "POCHTA_IMAPTEST_SOURCE")
USERS = 10
PASSWORD = "imaptest password"
SECONDS = 10
# Our patches to imaptest (its checkpoint=N crashed the client, whichever the server), applied by
# tests/interop/imaptest/build.sh, which records their checksum beside the binary.
PATCHES = Path(__file__).parent / "imaptest"
PATCH_STAMP = IMAPTEST.parent.parent / "imaptest.patches"


def write_mbox(path: Path, messages: list[bytes]) -> None:
    """An mbox (mboxrd quoting of "From " lines) of the messages, with LF line ends as mbox has."""
    with open(path, "wb") as out:
        for data in messages:
            body = data.replace(b"\r\n", b"\n")
            body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
            out.write(b"From imaptest@example.org Thu Jan  1 00:00:00 2026\n" + body.rstrip(b"\n") + b"\n\n")


def require_imaptest() -> None:
    if not IMAPTEST.is_file():
        pytest.skip(f"imaptest is not built at {IMAPTEST} (sh tests/interop/imaptest/build.sh .tools)")


def require_patched_imaptest() -> None:
    """Skip unless the binary was built with this checkout's patches (a build by the shared script
    alone, or by an older patch set, panics in checkpoint=N)."""
    require_imaptest()
    patches = b"".join(path.read_bytes() for path in sorted(PATCHES.glob("*.patch")))
    stamp = PATCH_STAMP.read_text().strip() if PATCH_STAMP.is_file() else ""
    if stamp != hashlib.sha256(patches).hexdigest():
        pytest.skip(
            f"{IMAPTEST} was built without {PATCHES}/*.patch (sh tests/interop/imaptest/build.sh .tools)"
        )


def run_imaptest(
    tmp_path: Path, accounts: dict[str, str], arguments: list[str], timeout: float
) -> tuple[str, ServeProcess, int]:
    """imaptest with ``arguments`` against a new ``pochta serve --workers 2`` holding ``accounts``:
    its output, the (stopped) server and the server's exit status."""
    data = tmp_path / "data"
    init_data_dir(data, listeners=("imap",), accounts=accounts)
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    try:
        port = server.wait_listening(["imap"])["imap"]
        command = [str(IMAPTEST), "host=127.0.0.1", f"port={port}", f"pass={PASSWORD}", *arguments]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    finally:
        status = server.stop()
    return result.stdout + result.stderr, server, status


def stress_mix(
    tmp_path: Path,
    users: int,
    clients: int,
    seconds: int,
    *extra: str,
) -> dict[str, int]:
    """imaptest's random mix, ``clients`` clients on accounts user1..user<users> for ``seconds``
    (``extra`` arguments added), against ``pochta serve --workers 2``: asserts that imaptest saw no
    error and the server logged none; the totals row by column (``Logi``, ``ChkP``, ...)."""
    messages = sorted((CORPUS / "rfc").glob("*.eml")) + sorted(
        (REPO / "tests" / "corpus" / "mime").glob("*.eml")
    )
    if len(messages) < 10:
        pytest.skip(f"too few messages in the corpus at {CORPUS}")
    mbox = tmp_path / "corpus.mbox"
    write_mbox(mbox, [path.read_bytes() for path in messages])
    accounts = {f"user{n}@example.org": PASSWORD for n in range(1, users + 1)}
    mix = [
        "user=user%d@example.org",
        f"users=1-{users}",
        f"mbox={mbox}",
        f"clients={clients}",
        f"secs={seconds}",
        *extra,
    ]
    output, server, status = run_imaptest(tmp_path, accounts, mix, seconds + 180)
    errors = [
        line for line in output.splitlines() if any(word in line for word in ("Error:", "Fatal:", "Panic:"))
    ]
    assert errors == [], "\n".join(errors[:20])
    assert status == 0, server.tail()
    assert server.failures() == [], server.tail()
    # It did run the mix: the totals row counts the commands of each kind (the first line of
    # numbers after the names; stderr's lines come after stdout's in ``output``).
    after = output.rsplit("Totals:", 1)[-1].splitlines()
    assert len(after) >= 4, output[-2000:]
    counts = next((line for line in after[2:] if re.fullmatch(r"[\d ]+", line.strip() or "x")), None)
    assert counts is not None, output[-2000:]
    totals = dict(zip(after[1].split(), (int(n) for n in counts.split()), strict=True))
    assert totals["Logi"] >= clients, output[-2000:]
    return totals


def test_imaptest_random_mix_finds_no_error(tmp_path: Path) -> None:
    require_imaptest()
    stress_mix(tmp_path, USERS, USERS, SECONDS)


def test_imaptest_checkpoint_mix_finds_no_error(tmp_path: Path) -> None:
    """The mix with ``checkpoint=5``: every 5 s the clients of a mailbox stop, CHECK, and imaptest
    compares what each has been told (messages, UIDs, flags, keywords, \\Recent counts); two clients on
    each of five accounts so that there is something to compare. Needs our patched imaptest."""
    require_patched_imaptest()
    totals = stress_mix(tmp_path, 5, 10, 15, "checkpoint=5")
    assert totals["ChkP"] >= 1, totals


@pytest.mark.slow
@pytest.mark.parametrize("clients", [10, 50])
def test_imaptest_checkpoint_mix_for_a_minute(tmp_path: Path, clients: int) -> None:
    """Issue 11's criterion: the checkpoint=5 mix, 10 and 50 clients on ten accounts for 60 s,
    gives no error (keyword lists included: docs/imap.md, Keywords in FLAGS)."""
    require_patched_imaptest()
    totals = stress_mix(tmp_path, USERS, clients, 60, "checkpoint=5")
    assert totals["ChkP"] >= 1, totals


def scripted_tests(into: Path) -> Path:
    """The scripted tests of the bundled imaptest source (``src/tests``), extracted into ``into``."""
    with tarfile.open(SOURCE) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and "/src/tests/" in m.name]
        archive.extractall(into, members=members, filter="data")
    [tests] = list(into.glob("*/src/tests"))
    return tests


def test_imaptest_scripted_compliance_tests_all_pass(tmp_path: Path) -> None:
    require_imaptest()
    if not SOURCE.is_file():
        pytest.skip(f"the imaptest source archive is not at {SOURCE}")
    tests = scripted_tests(tmp_path / "source")
    accounts = {"testuser@example.org": PASSWORD, "testuser2@example.org": PASSWORD}
    users = ["user=testuser@example.org", "user2=testuser2@example.org", f"test={tests}"]
    output, server, status = run_imaptest(tmp_path, accounts, users, 600)
    groups = re.search(r"(\d+) test groups: (\d+) failed, (\d+) skipped", output)
    base = re.search(r"base protocol: (\d+)/(\d+) individual commands failed", output)
    extensions = re.search(r"extensions: (\d+)/(\d+) individual commands failed", output)
    assert groups is not None, output[-3000:]
    assert base is not None, output[-3000:]
    assert extensions is not None, output[-3000:]
    assert int(groups[1]) >= 71, output[-3000:]  # as many groups as today, more as capabilities come
    assert (groups[2], base[1], extensions[1]) == ("0", "0", "0"), output[-6000:]
    assert int(base[2]) >= 450, output[-3000:]
    # SORT and THREAD (81), CONDSTORE (13), CONTEXT, NOTIFY (7), CATENATE (44)
    assert int(extensions[2]) >= 340, output[-3000:]
    assert status == 0, server.tail()


def test_imaptest_notify_script_passes(tmp_path: Path) -> None:
    """imaptest's ``notify`` script (RFC 5465: the initial STATUS of NOTIFY SET STATUS per event, none
    without STATUS) runs, because NOTIFY and QRESYNC are advertised, and passes."""
    require_imaptest()
    if not SOURCE.is_file():
        pytest.skip(f"the imaptest source archive is not at {SOURCE}")
    tests = scripted_tests(tmp_path / "source")
    accounts = {"testuser@example.org": PASSWORD, "testuser2@example.org": PASSWORD}
    users = ["user=testuser@example.org", "user2=testuser2@example.org", f"test={tests / 'notify'}"]
    output, server, status = run_imaptest(tmp_path, accounts, users, 300)
    assert "1 test groups: 0 failed, 0 skipped" in output, output[-3000:]
    assert "extensions: 0/7 individual commands failed" in output, output[-3000:]
    assert status == 0, server.tail()
