"""Run jmapio/jmap-test-suite (the JMAP conformance tests, RFC 8620 and RFC 8621) against a real
``pochta serve``: a script, not a pytest test. The suite is TypeScript, not on npm, and nothing
may be downloaded at run time, so CI cannot have it; run it by hand where it is built:

    .venv/bin/python tests/conformance/jmap_suite.py --suite /work/jmap-test-suite -o report.json

It starts pochta on a fresh data directory with JMAP on and only the HTTP listener, on 127.0.0.1
(plain HTTP from loopback takes passwords, docs/jmap.md "Authentication"), adds the suite's
primary and secondary users (empty mailboxes), writes the suite's config, runs
``node dist/cli.js -c cfg.json -o report.json`` and prints a summary: counts, then each failure
with its reason. docs/jmap.md "Conformance".

Nothing may leave this machine: the suite's own copy must have its smee.io helper disabled (it
is checked here before anything runs), and the Session's URLs, which the suite follows, are
checked to point at the loopback server.

The suite reads the capabilities it tests from the Session, where Mail, submission and
vacationresponse are advertised (docs/jmap.md "Conformance" has the last run's counts).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: serve_process

from serve_process import ServeProcess, init_data_dir

PRIMARY = ("primary@example.org", "primary-password-1")
SECONDARY = ("secondary@example.org", "secondary-password-2")
MAIL = "urn:ietf:params:jmap:mail"
# The suite's push helper as built must not reach smee.io (the suite is not our repository: its
# src/helpers/smee.ts is edited locally to return undefined at once).
SMEE_HELPER = Path("dist/helpers/smee.js")


def check_suite_is_offline(suite: Path) -> None:
    helper = (suite / SMEE_HELPER).read_text(encoding="utf-8")
    if "fetch(" in helper:
        raise SystemExit(f"{suite / SMEE_HELPER} still fetches smee.io: disable it and rebuild first")


def session(base: str, user: tuple[str, str]) -> dict[str, Any]:
    token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    request = urllib.request.Request(base + "/.well-known/jmap", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        document: dict[str, Any] = json.load(response)
    return document


def check_urls_are_local(document: dict[str, Any], base: str) -> None:
    """Every URL the suite will follow is on the loopback server."""
    urls = [document[key] for key in ("apiUrl", "downloadUrl", "uploadUrl", "eventSourceUrl")]
    for url in urls:
        if not str(url).startswith(base + "/"):
            raise SystemExit(f"the Session names {url}, not on {base}: refusing to run the suite")


def summary(report: dict[str, Any]) -> str:
    counts = report["summary"]
    lines = [
        f"total {counts['total']}: passed {counts['passed']}, failed {counts['failed']}, "
        f"skipped {counts['skipped']} (required: {counts['requiredPassed']} passed, "
        f"{counts['requiredFailed']} failed; recommended: {counts['recommendedPassed']} passed, "
        f"{counts['recommendedFailed']} failed)"
    ]
    for result in report["results"]:
        if result["status"] == "fail":
            kind = "required" if result["required"] else "recommended"
            reason = " ".join(str(result.get("error", "")).split())[:300]
            lines.append(f"FAIL {result['testId']} ({result['rfc']} {result['section']}, {kind}): {reason}")
    skipped: dict[str, int] = {}
    for result in report["results"]:
        if result["status"] == "skip":
            reason = str(result.get("error", ""))
            skipped[reason] = skipped.get(reason, 0) + 1
    lines.extend(f"skip x{count}: {reason}" for reason, count in sorted(skipped.items()))
    return "\n".join(lines)


def run(suite: Path, output: Path, extra: list[str], keep: bool) -> int:
    check_suite_is_offline(suite)
    work = Path(tempfile.mkdtemp(prefix="pochta-jmap-suite-"))
    data = work / "data"
    init_data_dir(
        data,
        listeners=("http",),
        accounts=dict([PRIMARY, SECONDARY]),
        config="[jmap]\nenabled = true\n",
    )
    server = ServeProcess(data, work / "serve.log")
    try:
        port = server.wait_listening(["http"])["http"]
        base = f"http://127.0.0.1:{port}"
        document = session(base, PRIMARY)
        check_urls_are_local(document, base)
        if MAIL not in document["capabilities"]:
            print(f"warning: the Session does not advertise {MAIL} (IN_PROGRESS): most tests will fail")
        config = {
            "sessionUrl": base + "/.well-known/jmap",
            "serverInfo": "pochta (tests/conformance/jmap_suite.py)",
            "users": {
                "primary": {"username": PRIMARY[0], "password": PRIMARY[1]},
                "secondary": {"username": SECONDARY[0], "password": SECONDARY[1]},
            },
            "authMethod": "basic",
            "timeout": 30000,
        }
        (work / "cfg.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node is not installed")
        command = [node, "dist/cli.js", "-c", str(work / "cfg.json"), "-o", str(output.resolve()), *extra]
        with open(work / "suite.log", "wb") as log:
            status = subprocess.run(command, cwd=suite, stdout=log, stderr=log, timeout=3600).returncode
        if status == 2 or not output.exists():
            print((work / "suite.log").read_text(encoding="utf-8", errors="replace")[-4000:])
            return 2
        print(summary(json.loads(output.read_text(encoding="utf-8"))))
    finally:
        server.stop()
        for line in server.failures():
            print(f"server log: {line}")
        print(f"server log: {work / 'serve.log'}, suite log: {work / 'suite.log'}")
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=Path("/work/jmap-test-suite"), help="the built suite")
    parser.add_argument("-o", "--output", type=Path, default=Path("jmap-suite-report.json"))
    parser.add_argument("--filter", help="only tests matching this glob (the suite's --filter)")
    parser.add_argument("--keep", action="store_true", help="keep the server's data directory")
    args = parser.parse_args()
    extra = ["--filter", args.filter] if args.filter else []
    return run(args.suite, args.output, extra, args.keep)


if __name__ == "__main__":
    sys.exit(main())
