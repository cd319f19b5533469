"""The CPU-time limit the interpreter enforces itself (``RunLimits.max_cpu_time``), driven by an
injected clock: a runaway script ends with a runtime error and the implicit keep."""

from __future__ import annotations

from pochta.sieve import Envelope, KeepAction, RunLimits, SieveMessage, compile_script, run

ENVELOPE = Envelope("sender@example.org", "me@example.com")


class TickingClock:
    """A CPU clock that advances ``step`` seconds each time it is read, and counts the reads."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.reads * self.step


def multipart(parts: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(parts))
    return (
        b"From: a@example.org\r\nSubject: many parts\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + body + b"--b--\r\n"
    )


def test_a_long_foreverypart_loop_stops_after_its_budget() -> None:
    script = compile_script(
        'require ["foreverypart", "variables", "fileinto"];\n'
        'foreverypart {\n  set "seen" "${seen}x";\n}\nfileinto "Done";'
    )
    clock = TickingClock(0.01)
    limits = RunLimits(max_cpu_time=1.0, cpu_clock=clock)
    outcome = run(script, SieveMessage.from_bytes(multipart(2000)), ENVELOPE, limits)
    assert outcome.error is not None
    assert "CPU time limit of 1 s exceeded" in outcome.error
    assert outcome.error.startswith(("line 2,", "line 3,"))  # in the loop, not at its end
    assert outcome.actions == (KeepAction(implicit=True),)  # never lose the message
    # One read at the start, then about 100 checks: the 2000 parts were not all walked.
    assert 100 <= clock.reads <= 102


def test_a_big_matches_list_is_checked_inside_the_test() -> None:
    keys = ", ".join(f'"*key{n}*"' for n in range(1000))
    script = compile_script(f'if header :matches "subject" [{keys}] {{ discard; }}')
    clock = TickingClock(1.0)
    limits = RunLimits(max_cpu_time=10.0, cpu_clock=clock)
    outcome = run(script, SieveMessage.from_bytes(multipart(1)), ENVELOPE, limits)
    assert outcome.error is not None
    assert "CPU time limit of 10 s exceeded" in outcome.error
    assert outcome.error.startswith("line 1,")
    # Read every 64 values matched: it stopped after some 640 of the 1000 keys.
    assert 10 <= clock.reads <= 13


def test_a_normal_script_is_not_affected() -> None:
    script = compile_script(
        'require ["foreverypart", "fileinto"];\n'
        'foreverypart { if header :contains "subject" "many" { fileinto "Text"; } }'
    )
    clock = TickingClock(0.001)
    limits = RunLimits(max_cpu_time=1.0, cpu_clock=clock)
    outcome = run(script, SieveMessage.from_bytes(multipart(5)), ENVELOPE, limits)
    assert outcome.error is None
    assert [action.mailbox for action in outcome.actions if hasattr(action, "mailbox")] == ["Text"]
    assert clock.reads > 1  # the clock was read, and the budget was enough


def test_no_limit_reads_the_clock_once() -> None:
    clock = TickingClock(1000.0)
    script = compile_script('require "foreverypart"; foreverypart { keep; }')
    outcome = run(script, SieveMessage.from_bytes(multipart(3)), ENVELOPE, RunLimits(cpu_clock=clock))
    assert outcome.error is None
    assert clock.reads == 1  # the start; no check without a limit


def test_the_real_thread_clock_stops_a_runaway_script() -> None:
    # The default clock is the thread's CPU time: a loop far longer than the budget ends itself.
    keys = ", ".join(f'"*k{n}?z*"' for n in range(1000))
    script = compile_script(
        f'require "foreverypart"; foreverypart {{ if header :matches "content-type" [{keys}] {{ stop; }} }}'
    )
    outcome = run(script, SieveMessage.from_bytes(multipart(3000)), ENVELOPE, RunLimits(max_cpu_time=0.05))
    assert outcome.error is not None
    assert "CPU time limit of 0.05 s exceeded" in outcome.error
