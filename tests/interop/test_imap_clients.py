"""IMAP interop with Debian's clients: mbsync (isync), offlineimap3, mutt, curl, getmail6 and
fetchmail, against a real pochta server on 127.0.0.1 (tests/imap_env.py). Each test skips with a
reason when its binary is missing (CI installs them and sets POCHTA_REQUIRE_INTEROP=1, which turns
such a skip into a failure).

The server's certificate is issued by a trustme CA for "localhost" and 127.0.0.1; every TLS
client (IMAPS or STARTTLS) is given that CA file and verifies the certificate and host name (none
runs with checks turned off); getmail's SimpleIMAPRetriever speaks plain IMAP over loopback. Results are
compared with the store itself: folders, message bytes and flags on both sides."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from client_process import run
from imap_env import ALICE, PASSWORD, ImapEnv, imap_server, message
from pochta.store.model import DEFAULT_MAILBOXES

pytestmark = pytest.mark.interop

T = TypeVar("T")

# Maildir info flags (the "2," part of a file name) and the IMAP system flags they stand for.
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
SYSTEM_FLAGS = frozenset(MAILDIR_FLAGS.values())

# Every new account has these mailboxes (INBOX, Drafts, Sent, Junk, Trash, Archive).
DEFAULTS = [name for name, _use in DEFAULT_MAILBOXES]

# A folder's contents: Subject -> (system flags, message bytes as ``comparable`` gives them).
Folder = dict[str, tuple[frozenset[str], bytes]]


def need(binary: str, package: str = "") -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install {package or binary})")
    return path


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def comparable(data: bytes) -> bytes:
    """A message as both sides of a sync keep it: LF line ends, and without the X-TUID field that
    mbsync puts in every message it copies (its crash-recovery journal finds copies by it)."""
    return re.sub(rb"^X-TUID: [^\n]*\n", b"", lf(data), count=1, flags=re.MULTILINE)


def subject(data: bytes) -> str:
    found = re.search(rb"^Subject: (.*?)\r?$", data, re.MULTILINE)
    assert found is not None, data[:200]
    return found.group(1).decode()


def big_body(n: int) -> bytes:
    """A body of ~40 KB: long enough for literals to arrive in several reads."""
    return b"".join(
        b"line %05d of message %d, padded to a fixed width ......\r\n" % (i, n) for i in range(700)
    )


async def in_thread(env: ImapEnv, work: Callable[[imaplib.IMAP4], T]) -> T:
    """Run ``work`` on a logged-in imaplib session (IMAPS) in a thread: a second IMAP client."""

    def session() -> T:
        client = env.login("imaps")
        try:
            return work(client)
        finally:
            client.logout()

    return await asyncio.to_thread(session)


def checked(reply: tuple[str, Sequence[object]]) -> Sequence[object]:
    status, data = reply
    assert status == "OK", (status, data)
    return data


# -- both sides as plain data --------------------------------------------------------------------------


async def server_folder(env: ImapEnv, name: str) -> Folder:
    view = await env.store.open_view((await env.mailbox(name)).id)
    folder: Folder = {}
    for i in range(len(view)):
        with env.store.open_blob(view.blob(i)) as f:
            data = f.read()
        folder[subject(data)] = (view.flags[i] & SYSTEM_FLAGS, comparable(data))
    return folder


async def server_tree(env: ImapEnv) -> dict[str, Folder]:
    names = [info.name for info in await env.store.mailboxes(env.alice.id)]
    return {name: await server_folder(env, name) for name in names}


def maildir_flags(file_name: str) -> frozenset[str]:
    _, sep, info = file_name.rpartition(":2,")
    return frozenset(MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS) if sep else frozenset()


def maildir_folder(path: Path) -> Folder:
    folder: Folder = {}
    for sub in ("new", "cur"):
        for file in sorted((path / sub).iterdir()):
            data = file.read_bytes()
            key = subject(data)
            assert key not in folder, f"{key} twice in {path}"
            folder[key] = (maildir_flags(file.name), comparable(data))
    return folder


def maildir_tree(root: Path) -> dict[str, Folder]:
    """Every Maildir below ``root`` (a directory with cur/, new/ and tmp/), by its relative path."""
    tree = {}
    for cur in sorted(root.rglob("cur")):
        box = cur.parent
        if (box / "new").is_dir() and (box / "tmp").is_dir():
            tree[box.relative_to(root).as_posix()] = maildir_folder(box)
    return tree


def make_maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def maildir_file(folder: Path, key: str) -> Path:
    for sub in ("new", "cur"):
        for file in (folder / sub).iterdir():
            if subject(file.read_bytes()) == key:
                return file
    raise AssertionError(f"{key} not in {folder}")


def set_maildir_flags(file: Path, flags: str) -> Path:
    """Rename a message file to carry ``flags`` (moving it to cur/, as a mail reader does)."""
    base = file.name.split(":2,")[0]
    target = file.parent.parent / "cur" / f"{base}:2,{''.join(sorted(flags))}"
    file.rename(target)
    return target


def flags(*names: str) -> frozenset[str]:
    return frozenset(names)


# -- the server's mail -------------------------------------------------------------------------------


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running


async def fill(env: ImapEnv) -> None:
    """A folder tree with flagged messages: INBOX, Work, Work/Projects, Lists (made over IMAP), Archive
    (one of the account's default mailboxes, like the empty Drafts, Sent, Junk and Trash)."""
    await env.deliver(message(1), flags=["\\Seen"])
    await env.deliver(message(2), flags=["\\Flagged"])
    await env.deliver(message(3))
    await env.deliver(message(4, big_body(4)), flags=["\\Seen", "\\Answered"])
    await env.ops.create(env.alice.id, "Work/Projects")  # creates Work too
    await env.deliver(message(10), mailbox="Work")
    await env.deliver(message(11), mailbox="Work", flags=["\\Seen"])
    await env.deliver(message(12), mailbox="Work/Projects", flags=["\\Seen", "\\Draft"])

    def create_lists(client: imaplib.IMAP4) -> None:
        checked(client.create("Lists"))

    await in_thread(env, create_lists)
    await env.deliver(message(13), mailbox="Archive", flags=["\\Seen"])
    await env.deliver(message(14), mailbox="Lists")


# -- mbsync (isync) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["imaps", "starttls"])
async def test_mbsync_two_way(env: ImapEnv, tmp_path: Path, mode: str) -> None:
    mbsync = need("mbsync", "isync")
    await fill(env)
    mail = tmp_path / "mail"
    mail.mkdir()
    _host, port = env.tls if mode == "imaps" else env.plain
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        "IMAPAccount pochta\n"
        f"Host localhost\nPort {port}\n"
        f"User {ALICE}\nPass {PASSWORD}\n"
        f"SSLType {'IMAPS' if mode == 'imaps' else 'STARTTLS'}\n"
        f"CertificateFile {env.ca_file()}\n"
        "SystemCertificates no\n"
        "\n"
        "IMAPStore remote\nAccount pochta\n"
        "\n"
        f"MaildirStore local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n"
        "\n"
        "Channel everything\nFar :remote:\nNear :local:\nPatterns *\n"
        "Create Both\nRemove None\nExpunge Both\nSync All\nSyncState *\n"
    )

    async def sync() -> None:
        code, output = await run(mbsync, "-c", str(rc), "-a", "-D", env={"HOME": str(tmp_path)})
        with (tmp_path / "mbsync.log").open("a") as log:  # the whole exchange, kept for a look
            log.write(output)
        assert code == 0, output[-20000:]

    await sync()
    expected = await server_tree(env)
    assert sorted(expected) == sorted([*DEFAULTS, "Lists", "Work", "Work/Projects"])
    assert expected["INBOX"]["message 2"][0] == flags("\\Flagged")
    assert maildir_tree(mail) == expected

    # Local changes: flag message 3, delete message 1, and a new folder with one (read) message.
    set_maildir_flags(maildir_file(mail / "INBOX", "message 3"), "F")
    maildir_file(mail / "INBOX", "message 1").unlink()
    local = make_maildir(mail / "Local")
    (local / "cur" / "1700000000.P1Q1.localhost:2,S").write_bytes(lf(message(30)))
    # Server changes: a new message, and a flag set by another IMAP session.
    await env.deliver(message(20))

    def flag_message_2(client: imaplib.IMAP4) -> None:
        checked(client.select("INBOX"))
        checked(client.uid("STORE", "2", "+FLAGS", "(\\Seen)"))

    await in_thread(env, flag_message_2)

    await sync()
    server = await server_tree(env)
    assert sorted(server) == sorted([*DEFAULTS, "Lists", "Local", "Work", "Work/Projects"])
    assert {key: f for key, (f, _) in server["INBOX"].items()} == {
        "message 2": flags("\\Flagged", "\\Seen"),
        "message 3": flags("\\Flagged"),
        "message 4": flags("\\Seen", "\\Answered"),
        "message 20": flags(),
    }
    assert server["Local"] == {"message 30": (flags("\\Seen"), lf(message(30)))}
    assert server["INBOX"]["message 20"][1] == lf(message(20))
    assert maildir_tree(mail) == server

    # A third run has nothing left to do: both sides stay as they are.
    await sync()
    assert maildir_tree(mail) == server == await server_tree(env)


# -- offlineimap3 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "deflate"])
async def test_offlineimap(env: ImapEnv, tmp_path: Path, compress: bool) -> None:
    offlineimap = need("offlineimap", "offlineimap3")
    await fill(env)
    mail = tmp_path / "mail"
    mail.mkdir()
    _host, port = env.tls
    rc = tmp_path / "offlineimaprc"
    rc.write_text(
        "[general]\n"
        "accounts = pochta\n"
        f"metadata = {tmp_path / 'offlineimap-state'}\n"
        "\n"
        "[Account pochta]\n"
        "localrepository = local\nremoterepository = remote\n"
        "\n"
        "[Repository local]\n"
        f"type = Maildir\nlocalfolders = {mail}\nsep = /\n"
        "\n"
        "[Repository remote]\n"
        "type = IMAP\n"
        f"remotehost = localhost\nremoteport = {port}\n"
        f"remoteuser = {ALICE}\nremotepass = {PASSWORD}\n"
        f"ssl = yes\nsslcacertfile = {env.ca_file()}\n"
        "maxconnections = 1\n" + ("usecompression = yes\n" if compress else "")
        # COMPRESS=DEFLATE (RFC 4978) when asked: imaplib2 then compresses above TLS.
    )

    async def sync() -> None:
        code, output = await run(
            offlineimap, "-c", str(rc), "-o", "-u", "basic", "-d", "imap", env={"HOME": str(tmp_path)}
        )
        with (tmp_path / "offlineimap.log").open("a") as log:  # the whole exchange, kept for a look
            log.write(output)
        assert code == 0, output[-20000:]
        # offlineimap reports a folder it could not sync as an error but may still exit 0.
        assert "ERROR" not in output, output[-20000:]
        assert ("COMPRESS DEFLATE" in output) == compress, output[-20000:]

    await sync()
    expected = await server_tree(env)
    assert maildir_tree(mail) == expected

    # Local: read message 3, delete message 2, write a (flagged) message 31 into Lists;
    # server: a new message in Work.
    set_maildir_flags(maildir_file(mail / "INBOX", "message 3"), "S")
    maildir_file(mail / "INBOX", "message 2").unlink()
    (mail / "Lists" / "cur" / "1700000000_0.1.localhost:2,F").write_bytes(lf(message(31)))
    await env.deliver(message(21), mailbox="Work", flags=["\\Flagged"])
    await sync()
    server = await server_tree(env)
    assert {key: f for key, (f, _) in server["INBOX"].items()} == {
        "message 1": flags("\\Seen"),
        "message 3": flags("\\Seen"),
        "message 4": flags("\\Seen", "\\Answered"),
    }
    assert server["Work"]["message 21"] == (flags("\\Flagged"), lf(message(21)))
    # Uploaded with APPEND, its new UID learnt from APPENDUID (RFC 4315): offlineimap adds an
    # X-OfflineIMAP header to find the message when the server does not say.
    assert server["Lists"]["message 31"] == (flags("\\Flagged"), lf(message(31)))
    assert maildir_tree(mail) == server


# -- mutt (in tmux: mutt has no batch mode for reading) --------------------------------------------


async def tmux(base: list[str], *args: str) -> str:
    code, output = await run(*base, *args)
    assert code == 0, output
    return output


async def run_in_tmux(tmp_path: Path, argv: list[str], env: dict[str, str]) -> str:
    """Run a full-screen program in a detached tmux session until it exits (30 s at most); its exit
    code. Should it not exit, the assertion shows its last screen."""
    base = [need("tmux"), "-S", str(tmp_path / "tmux.sock"), "-f", "/dev/null"]
    done = tmp_path / "exit-code"
    # The session signals the channel when the program has ended (and then ends with it).
    script = (
        " ".join(f"'{a}'" for a in argv)
        + f"; echo $? > '{done}'; '{base[0]}' -S '{base[2]}' wait-for -S done"
    )
    code, output = await run(*base, "new-session", "-d", "-x", "160", "-y", "50", "sh", "-c", script, env=env)
    assert code == 0, output
    server_pid = int(await tmux(base, "display-message", "-p", "#{pid}"))
    waiter = await asyncio.create_subprocess_exec(*base, "wait-for", "done")
    try:
        try:
            async with asyncio.timeout(30):
                await waiter.wait()
        except TimeoutError:
            waiter.kill()
            await waiter.wait()
            screen = await tmux(base, "capture-pane", "-p")
            raise AssertionError(f"{argv[0]} did not finish in 30 s; its screen:\n{screen}") from None
        return done.read_text().strip()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server_pid, signal.SIGTERM)


def debug_logs(directory: Path, pattern: str) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(directory.glob(pattern)))[-20000:]


async def test_mutt(env: ImapEnv, tmp_path: Path) -> None:
    mutt = need("mutt")
    for n in range(1, 6):
        await env.deliver(message(n))
    _host, port = env.tls
    rc = tmp_path / "muttrc"
    rc.write_text(
        f'set folder="imaps://localhost:{port}/"\n'
        'set spoolfile="+INBOX"\n'
        f'set imap_user="{ALICE}"\nset imap_pass="{PASSWORD}"\n'
        f'set ssl_ca_certificates_file="{env.ca_file()}"\n'
        f'set certificate_file="{tmp_path / "certificates"}"\n'
        f'set record="{tmp_path / "sent"}"\nset postponed="{tmp_path / "postponed"}"\n'
        "unset header_cache\nunset message_cachedir\n"
        "set sort=mailbox-order\nset resolve=no\nset move=no\nset delete=yes\n"
        "set confirmappend=no\nset confirmcreate=no\nset quit=yes\nset wait_key=no\n"
        "set mark_old=no\nset beep=no\nset imap_check_subscribed=no\nset mail_check=60\n"
        "set timeout=60\nset imap_keepalive=300\n"
    )
    keys = (
        "<first-entry><display-message><exit>"  # message 1: read
        "<next-entry><flag-message>"  # message 2: flagged
        "<next-entry><save-message><kill-line>=Archive<enter>"  # message 3: to Archive
        "<next-entry><delete-message>"  # message 4: deleted
        "<sync-mailbox><quit>"
    )
    code = await run_in_tmux(
        tmp_path,
        [mutt, "-n", "-F", str(rc), "-d", "2", "-e", f"push {keys}"],
        {"HOME": str(tmp_path), "TERM": "screen", "MAIL": ""},
    )
    log = debug_logs(tmp_path, ".muttdebug*")
    assert code == "0", log
    inbox = await server_folder(env, "INBOX")
    assert {key: f for key, (f, _) in inbox.items()} == {
        "message 1": flags("\\Seen"),
        "message 2": flags("\\Flagged"),
        "message 5": flags(),
    }, log
    archive = await server_folder(env, "Archive")
    assert archive == {"message 3": (flags(), lf(message(3)))}, log


# -- curl ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["imap", "imaps"])
async def test_curl(env: ImapEnv, scheme: str) -> None:
    curl = need("curl")
    for n in range(1, 4):
        await env.deliver(message(n, big_body(n) if n == 2 else b""), flags=["\\Seen"] if n == 1 else [])
    await env.ops.create(env.alice.id, "Work")
    _host, port = env.plain if scheme == "imap" else env.tls
    base = f"{scheme}://127.0.0.1:{port}"
    common = [curl, "-sS", "--cacert", str(env.ca_file()), "-u", f"{ALICE}:{PASSWORD}"]
    if scheme == "imap":
        common.append("--ssl-reqd")  # STARTTLS, required

    async def curl_bytes(*args: str) -> bytes:
        process = await asyncio.create_subprocess_exec(
            *common, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(30):
            out, err = await process.communicate()
        assert process.returncode == 0, err.decode(errors="replace")
        return out

    # LIST
    listing = (await curl_bytes(f"{base}/")).decode()
    names = sorted(re.findall(r'^\* LIST \([^)]*\) "/" "?([^"\r\n]*)"?\r$', listing, re.MULTILINE))
    assert names == sorted([*DEFAULTS, "Work"]), listing
    # EXAMINE
    examined = (await curl_bytes("-X", "EXAMINE INBOX", f"{base}/")).decode()
    assert "* 3 EXISTS\r\n" in examined, examined
    assert "[UIDNEXT 4]" in examined, examined
    # SEARCH (curl selects the mailbox, then sends the custom command)
    assert await curl_bytes("-X", "SEARCH UNSEEN", f"{base}/INBOX") == b"* SEARCH 2 3\r\n"
    assert await curl_bytes("-X", 'UID SEARCH SUBJECT "message 2"', f"{base}/INBOX") == b"* SEARCH 2\r\n"
    # The search URL form: curl sends SEARCH with the query itself.
    assert await curl_bytes(f"{base}/INBOX?SEEN") == b"* SEARCH 1\r\n"
    # Fetch by UID: the stored bytes, exactly.
    assert await curl_bytes(f"{base}/INBOX;UID=2") == message(2, big_body(2))
    assert await curl_bytes(f"{base}/INBOX;UID=3") == message(3)
    # A section: only the header.
    header = message(1).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert await curl_bytes(f"{base}/INBOX;UID=1;SECTION=HEADER") == header
    # curl fetches with BODY[] (not BODY.PEEK[]): what it read is \Seen now.
    inbox = await server_folder(env, "INBOX")
    assert {key: f for key, (f, _) in inbox.items()} == {f"message {n}": flags("\\Seen") for n in (1, 2, 3)}
    assert await curl_bytes("-X", "SEARCH UNSEEN", f"{base}/INBOX") == b"* SEARCH\r\n"


# -- getmail6 ------------------------------------------------------------------------------------------


# Trace fields a retriever adds to what it delivers; the rest must be the server's bytes exactly.
ADDED_FIELDS = re.compile(
    rb"^(Return-Path|Delivered-To|Received|X-getmail-retrieved-from-mailbox):", re.IGNORECASE
)


def without_added_fields(data: bytes) -> bytes:
    """``data`` (LF line ends) minus the trace header fields a retriever adds."""
    head, sep, body = lf(data).partition(b"\n\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # a continuation line belongs to the field before it
            if not dropping:
                kept.append(line)
            continue
        dropping = ADDED_FIELDS.match(line) is not None
        if not dropping:
            kept.append(line)
    return b"\n".join(kept) + sep + body


def assert_same_message(delivered: bytes, original: bytes) -> None:
    assert without_added_fields(delivered) == lf(original), (delivered[:600], original[:300])


@pytest.mark.parametrize(
    ("retriever", "delete"), [("SimpleIMAPSSLRetriever", False), ("SimpleIMAPRetriever", True)]
)
async def test_getmail(env: ImapEnv, tmp_path: Path, retriever: str, delete: bool) -> None:
    getmail = need("getmail", "getmail6")
    originals = {f"message {n}": message(n, big_body(n) if n == 2 else b"") for n in range(1, 4)}
    for n, data in enumerate(originals.values(), start=1):
        await env.deliver(data, flags=["\\Seen"] if n == 1 else [])
    await env.ops.create(env.alice.id, "Work")
    originals["message 7"] = message(7)
    await env.deliver(originals["message 7"], mailbox="Work")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    host, port = env.tls if retriever == "SimpleIMAPSSLRetriever" else env.plain
    rc = tmp_path / "getmailrc"
    rc.write_text(
        "[retriever]\n"
        f"type = {retriever}\n"
        f"server = {host}\nport = {port}\n"
        f"username = {ALICE}\npassword = {PASSWORD}\n"
        'mailboxes = ("INBOX", "Work")\n'
        + (f"ca_certs = {env.ca_file()}\n" if retriever == "SimpleIMAPSSLRetriever" else "")
        # getmail's Maildir and Mboxrd destinations refuse to run as root (as CI does): an external
        # MDA writing one file per message stands in for them.
        + "[destination]\ntype = MDA_external\npath = /bin/sh\n"
        f'arguments = ("-c", "cat > {out_dir}/msg.$$")\n'
        "allow_root_commands = true\n"
        "[options]\n"
        f"delete = {'true' if delete else 'false'}\n"
        "read_all = true\ndelivered_to = false\nreceived = false\nverbose = 2\n"
    )
    getmaildir = tmp_path / "getmail-state"
    getmaildir.mkdir()
    code, output = await run(getmail, "--getmaildir", str(getmaildir), "--rcfile", str(rc))
    assert code == 0, output
    got = {subject(p.read_bytes()): p.read_bytes() for p in out_dir.iterdir()}
    assert sorted(got) == sorted(originals), output
    for key, data in got.items():
        assert_same_message(data, originals[key])
    remaining = len(await env.uids()) + len(await env.uids("Work"))
    assert remaining == (0 if delete else 4)
    if not delete:
        # getmail fetches with BODY.PEEK: the server's flags are unchanged.
        assert (await server_folder(env, "INBOX"))["message 2"][0] == flags()


# -- fetchmail -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("keep", "mode"), [(True, "imaps"), (False, "starttls")])
async def test_fetchmail(env: ImapEnv, tmp_path: Path, keep: bool, mode: str) -> None:
    fetchmail = need("fetchmail")
    originals = {f"message {n}": message(n, big_body(n) if n == 2 else b"") for n in range(1, 5)}
    for n, data in enumerate(originals.values(), start=1):
        await env.deliver(data, flags=["\\Seen"] if n == 1 else [])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _host, port = env.tls if mode == "imaps" else env.plain
    tls = "ssl" if mode == "imaps" else "sslproto tls1.2+"  # no "ssl" on the plain port: STARTTLS, required
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll localhost protocol IMAP port {port}\n"
        f'  user "{ALICE}" password "{PASSWORD}" is "root" here\n'
        f'  {tls} sslcertck sslcertfile "{env.ca_file()}"\n'
        f"  {'keep' if keep else 'nokeep'} fetchall\n"
        f"  mda \"/bin/sh -c 'cat > {out_dir}/msg.$$'\"\n"
    )
    rc.chmod(0o600)
    code, output = await run(
        fetchmail,
        "-f",
        str(rc),
        "--nodetach",
        "--nosyslog",
        "-i",
        str(tmp_path / "ids"),
        "-v",
        env={"HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)},
    )
    assert code == 0, output
    got = {subject(p.read_bytes()): p.read_bytes() for p in out_dir.iterdir()}
    assert sorted(got) == sorted(originals), output
    for key, data in got.items():
        assert_same_message(data, originals[key])
    if keep:
        # Kept, and marked read by the fetch.
        inbox = await server_folder(env, "INBOX")
        assert {key: f for key, (f, _) in inbox.items()} == {key: flags("\\Seen") for key in originals}
    else:
        assert await env.uids() == []
