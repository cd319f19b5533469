"""What a method handler is given besides its arguments: the server's parts, the principal and
the accounts it may use, the request's creation ids, and where to say which states changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pochta.config import Settings
from pochta.proto.jmap import CreatedIds, Invocation, MethodError, MethodErrorType
from pochta.server.jmap.principal import JmapAccount, Principal
from pochta.store.api import Store

if TYPE_CHECKING:
    from pochta.delivery.pipeline import Delivery

__all__ = ["CallContext", "RequestState"]


@dataclass
class RequestState:
    """What lives as long as one API request: the creation ids (RFC 8620 section 3.3) and the
    data types whose state the request changed, per account (for push: RFC 8620 section 7)."""

    created_ids: CreatedIds
    changed: dict[str, set[str]] = field(default_factory=dict)  # account id -> type names


@dataclass
class CallContext:
    """One method call's view of the request. A handler reads the store through ``store`` (None
    in processes that have none: the unit tests of the dispatcher), checks the account it is asked
    for with ``account``/``writable_account``, records creations with ``created`` and changes with
    ``changed``, and may add further responses with ``also_respond`` (RFC 8620 section 3.4: a
    method may answer with several, as /copy's implicit /set does)."""

    method: str
    call_id: str
    using: frozenset[str]
    capability: str  # the capability the method belongs to
    principal: Principal
    settings: Settings
    store: Store | None
    request: RequestState
    extra_responses: list[Invocation] = field(default_factory=list)
    # The server's delivery pipeline, for EmailSubmission (None where there is none: the unit
    # tests of the dispatcher, a web process without one).
    delivery: Delivery | None = None
    # The server's data directory (its server secret, its workers' metrics sockets): the admin
    # methods' (docs/admin.md); None where there is none (the dispatcher's unit tests).
    data_dir: Path | None = None

    def account(self, account_id: str) -> JmapAccount:
        """The account ``account_id`` names, if the principal may use it with this method."""
        found = self.principal.accounts.get(account_id)
        if found is None:
            # RFC 8620 section 3.6.2: accountNotFound, also for an account the user may not see.
            raise MethodError(MethodErrorType.ACCOUNT_NOT_FOUND)
        if self.capability not in found.capabilities:
            raise MethodError(MethodErrorType.ACCOUNT_NOT_SUPPORTED_BY_METHOD)
        return found

    def writable_account(self, account_id: str) -> JmapAccount:
        found = self.account(account_id)
        if found.is_read_only:
            raise MethodError(MethodErrorType.ACCOUNT_READ_ONLY)
        return found

    def created(self, creation_id: str, record_id: str) -> None:
        self.request.created_ids.add(creation_id, record_id)

    def resolve_id(self, value: str) -> str | None:
        """An Id argument's value, with ``#creationId`` replaced by the id created (None: none)."""
        return self.request.created_ids.resolve(value)

    def changed(self, account_id: str, *type_names: str) -> None:
        self.request.changed.setdefault(account_id, set()).update(type_names)

    def also_respond(self, name: str, arguments: dict[str, Any]) -> None:
        self.extra_responses.append(Invocation(name, arguments, self.call_id))
