"""An account's Sieve scripts as every way in (ManageSieve, the CLI, later JMAP) manages them: the
rules for names (RFC 5804 §1.6), for content (valid UTF-8 that compiles, RFC 5804 §2.6), and for
size (the ``[sieve]`` limits). The store keeps the scripts and the quota over all of them
(``put_sieve_script``); this module is the one owner of everything else.

Every refusal is a ``ScriptRefused`` whose ``code`` is the ManageSieve response code that says it
(RFC 5804 §1.3; None when there is none) and whose message is fit for the user.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from pochta.config_sieve import SieveSettings
from pochta.sieve import Script, SieveSyntaxError, compile_script
from pochta.store.api import AlreadyExists, NotFound, ScriptActive, SieveQuotaExceeded
from pochta.store.api_features import SieveScriptStore
from pochta.store.model import AccountId
from pochta.store.sieve_model import SieveScript, SieveScriptInfo

__all__ = ["MANAGED_SCRIPT", "ScriptRefused", "SieveScripts", "check_name", "compile_source", "decode_source"]

# The script ``pochta.mail.mail_rules`` generates from the Gmail-style settings: readable and
# activatable like any other, written only through those settings (docs/sieve.md).
MANAGED_SCRIPT = "pochta-settings"

# RFC 5804 §1.6: control characters, DELETE, and the line and paragraph separators.
_FORBIDDEN = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


class ScriptRefused(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def check_name(name: str, settings: SieveSettings) -> str:
    """The name as stored (NFC, RFC 5198 §2), or ScriptRefused. The empty name is refused: it means
    "no script" only to SETACTIVE, which says so itself (RFC 5804 §2.8)."""
    if not name:
        raise ScriptRefused("A script name must not be empty")  # RFC 5804 §1.6: at least one octet
    if any(c in _FORBIDDEN for c in name):
        raise ScriptRefused("A script name must not contain control characters or line separators")
    name = unicodedata.normalize("NFC", name)
    if len(name) > settings.max_name_length:
        # RFC 5804 §1.6: a name longer than the limit is refused, never truncated.
        raise ScriptRefused(f"A script name may have at most {settings.max_name_length} characters")
    return name


def decode_source(data: bytes) -> str:
    """A script's text from the octets a client sent: UTF-8 (RFC 5228 §2.1), else ScriptRefused."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScriptRefused(f"The script is not valid UTF-8 (at octet {exc.start})") from None


def compile_source(source: str, settings: SieveSettings) -> Script:
    """The checked script, or ScriptRefused saying where and why it does not compile (RFC 5804
    §2.6: the server MUST check the script's grammar and that its extensions are supported)."""
    size = len(source.encode("utf-8"))
    if size > settings.max_script_size:
        raise ScriptRefused(f"The script is larger than {settings.max_script_size} octets", "QUOTA/MAXSIZE")
    if not source.strip():
        raise ScriptRefused("The script is empty")  # RFC 5804 §2.6: zero length SHOULD be refused
    try:
        return compile_script(source, settings.parse_limits())
    except SieveSyntaxError as exc:
        raise ScriptRefused(str(exc)) from None


def _not_managed(name: str) -> None:
    if name == MANAGED_SCRIPT:
        raise ScriptRefused(
            f"{MANAGED_SCRIPT!r} is generated from the account's filters, vacation and forwarding settings "
            "and cannot be written, renamed or deleted; change those settings instead"
        )


@dataclass
class SieveScripts:
    store: SieveScriptStore
    settings: SieveSettings

    async def list(self, account_id: AccountId) -> list[SieveScriptInfo]:
        return await self.store.sieve_scripts(account_id)

    async def get(self, account_id: AccountId, name: str) -> SieveScript:
        script = await self.store.sieve_script(account_id, check_name(name, self.settings))
        if script is None:
            raise ScriptRefused("There is no script by that name", "NONEXISTENT")
        return script

    async def active(self, account_id: AccountId) -> SieveScript | None:
        return await self.store.active_sieve_script(account_id)

    def check(self, source: str) -> Script:
        return compile_source(source, self.settings)

    async def have_space(self, account_id: AccountId, name: str, size: int) -> None:
        """ScriptRefused with a QUOTA code when a script of ``size`` octets stored as ``name`` would
        break a limit (RFC 5804 §2.5). Not a promise: ``put`` checks again as it writes."""
        name = check_name(name, self.settings)
        _not_managed(name)
        if size > self.settings.max_script_size:
            raise ScriptRefused(
                f"A script may have at most {self.settings.max_script_size} octets", "QUOTA/MAXSIZE"
            )
        scripts = await self.store.sieve_scripts(account_id)
        others = [info for info in scripts if info.name != name]
        replacing = len(others) < len(scripts)
        if not replacing and len(others) + 1 > self.settings.max_scripts:
            raise ScriptRefused(f"At most {self.settings.max_scripts} scripts", "QUOTA/MAXSCRIPTS")
        if sum(info.size for info in others) + size > self.settings.max_storage:
            raise ScriptRefused(
                f"Scripts may take at most {self.settings.max_storage} octets", "QUOTA/MAXSIZE"
            )

    async def put(self, account_id: AccountId, name: str, source: str) -> Script:
        """Check and store the script (replacing one of that name, which stays active if it was);
        nothing changes on a refusal (RFC 5804 §2.6). Returns the compiled script."""
        name = check_name(name, self.settings)
        _not_managed(name)
        script = compile_source(source, self.settings)
        try:
            await self.store.put_sieve_script(account_id, name, source, self.settings.quota())
        except SieveQuotaExceeded as exc:
            raise ScriptRefused(exc.reason, exc.code) from None
        return script

    async def activate(self, account_id: AccountId, name: str | None) -> None:
        """Make ``name`` the active script; None or "" deactivates (RFC 5804 §2.8)."""
        target = check_name(name, self.settings) if name else None
        try:
            await self.store.activate_sieve_script(account_id, target)
        except NotFound:
            raise ScriptRefused("There is no script by that name", "NONEXISTENT") from None

    async def rename(self, account_id: AccountId, old: str, new: str) -> None:
        old, new = check_name(old, self.settings), check_name(new, self.settings)
        _not_managed(old)
        _not_managed(new)
        try:
            await self.store.rename_sieve_script(account_id, old, new)
        except NotFound:
            raise ScriptRefused("There is no script by that name", "NONEXISTENT") from None
        except AlreadyExists:
            # RFC 5804 §2.11.1: ALREADYEXISTS when the new name is taken.
            raise ScriptRefused("A script with the new name already exists", "ALREADYEXISTS") from None

    async def delete(self, account_id: AccountId, name: str) -> None:
        name = check_name(name, self.settings)
        _not_managed(name)
        try:
            await self.store.delete_sieve_script(account_id, name)
        except NotFound:
            raise ScriptRefused("There is no script by that name", "NONEXISTENT") from None
        except ScriptActive:
            # RFC 5804 §2.10: the active script cannot be deleted (response code ACTIVE).
            raise ScriptRefused(
                "The active script cannot be deleted; deactivate it first", "ACTIVE"
            ) from None
