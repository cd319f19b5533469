"""SIGTERM during startup (``listeners.interrupt_startup_on_sigterm``): the KeyboardInterrupt that
interrupts startup may land in a finaliser, where Python drops it; the signal must still stop the
process once it serves, and the dropped interrupt is not printed as an error."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal
    from pochta.server import listeners

    listeners.interrupt_startup_on_sigterm()

    class Finalised:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)  # handled inside the finaliser: interrupt dropped

    Finalised()
    print("startup went on", listeners.stopped_early(), flush=True)

    class Server:  # what run_until_signal asks of a server
        started = True
        stopped = False
        def reload_tls(self):
            pass
        async def stop(self):
            self.stopped = True

    server = Server()
    asyncio.run(asyncio.wait_for(listeners.run_until_signal(server), 10))
    print("stopped", server.stopped, flush=True)
    """
)


def test_a_sigterm_dropped_during_startup_stops_the_server_once_it_serves() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "startup went on True"
    assert "signal" in lines[1]
    assert "name=SIGTERM" in lines[1]
    assert lines[-1] == "stopped True"
    assert "Exception ignored" not in done.stderr
    assert "KeyboardInterrupt" not in done.stderr
