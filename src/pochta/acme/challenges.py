"""Where http-01 challenge answers live while an ACME order is validated (RFC 8555 section 8.3).

The ACME client (the housekeeper process, or `pochta tls renew`) writes the key authorization of each
token to ``<data_dir>/acme/http-01/<token>``; the `http` listener of every worker process answers
``GET /.well-known/acme-challenge/<token>`` with that file's exact bytes. A file in the data directory
is what every process (and the CLI) sees without any message between them. The files are removed
when the order is done, whatever its outcome.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["CHALLENGE_DIR", "MAX_KEY_AUTHORIZATION", "ChallengeFiles", "valid_token"]

CHALLENGE_DIR = Path("acme") / "http-01"  # relative to the data directory

# RFC 8555 section 8.3: the token is base64url without padding; nothing else can name a file here.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
# A key authorization is the token, ".", and a 43-character thumbprint; a file far larger than that
# is not one, and is never read whole into memory.
MAX_KEY_AUTHORIZATION = 4096


def valid_token(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


class ChallengeFiles:
    """Publish and withdraw the key authorizations of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / CHALLENGE_DIR

    def path(self, token: str) -> Path | None:
        """The file answering ``token``, or None for a token that cannot be one."""
        return self.directory / token if valid_token(token) else None

    def publish(self, token: str, key_authorization: str) -> None:
        path = self.path(token)
        if path is None:
            raise ValueError(f"not an ACME token: {token!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{token}.{os.getpid()}")
        temporary.write_bytes(key_authorization.encode("ascii"))
        os.replace(temporary, path)  # a reader sees the whole answer or none

    def withdraw(self, token: str) -> None:
        path = self.path(token)
        if path is not None:
            path.unlink(missing_ok=True)

    def read(self, token: str) -> bytes | None:
        """The answer to ``token`` if one is published (what the http listener serves, blocking)."""
        path = self.path(token)
        if path is None:
            return None
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_KEY_AUTHORIZATION + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            return None
        return data if len(data) <= MAX_KEY_AUTHORIZATION else None
