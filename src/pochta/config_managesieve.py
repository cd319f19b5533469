"""The ManageSieve listener's settings (``pochta.config`` re-exports the section; the script limits
themselves are the ``[sieve]`` section's, shared with ``pochta sieve`` and delivery)."""

from __future__ import annotations

from pydantic import Field

from pochta.config_section import Section

__all__ = ["ManageSieveSettings"]


class ManageSieveSettings(Section):
    """ManageSieve (RFC 5804, docs/managesieve.md)."""

    autologout: float = Field(
        1800.0,
        ge=60.0,
        description="Seconds an authenticated ManageSieve session may stay idle; before login "
        "server.idle_timeout_unauthenticated applies.",
    )
    max_literal_discard: int = Field(
        16 * 1024 * 1024,
        ge=0,
        description="Largest literal that is read and dropped when it exceeds the script size limit "
        "(the command is answered NO (QUOTA/MAXSIZE)); a larger one ends the session at once.",
    )
    max_errors: int = Field(
        10, ge=1, description="Consecutive bad command lines before the session ends with BYE."
    )
