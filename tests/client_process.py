"""Running an external client binary (fetchmail, swaks, curl ...) from an async test."""

from __future__ import annotations

import asyncio
import os


async def run(*argv: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a client to completion (60 s at most); its exit code and combined output."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")
