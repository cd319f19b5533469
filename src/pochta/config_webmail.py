"""The webmail's settings (``[webmail]``; ``pochta.config`` re-exports the section; docs/webmail.md)."""

from __future__ import annotations

from pydantic import Field

from pochta.config_section import Section

__all__ = ["WebmailSettings"]


class WebmailSettings(Section):
    """The webmail at ``/webmail/`` on the HTTP listeners (docs/webmail.md)."""

    enabled: bool = Field(
        False,
        description="Serve the webmail at /webmail/ (needs jmap.enabled: the webmail reads mail over "
        "JMAP). Off by default while it is being built (issue 17: sign-in, sessions and the folder "
        "list work; reading and writing mail come with the JMAP mail methods).",
    )
    session_lifetime: int = Field(
        14 * 24 * 3600,
        ge=300,
        le=366 * 24 * 3600,
        description="Seconds a signed-in session lasts at most, however active; then the user signs "
        "in again.",
    )
    session_idle: int = Field(
        3 * 24 * 3600,
        ge=300,
        le=366 * 24 * 3600,
        description="Seconds a session lasts without a request; then the user signs in again.",
    )
    sessions_per_account: int = Field(
        50,
        ge=1,
        le=10_000,
        description="Signed-in sessions an account keeps at once; signing in past it ends the "
        "least recently used one.",
    )
