"""Email/copy (RFC 8621 section 4.7, the standard /copy of RFC 8620 section 5.4): an Email copied
from one account to another. A copy within one account is not a /copy: RFC 8620 section 5.4 says
accountId "MUST be different to the fromAccountId" (``parse_copy`` answers invalidArguments; a
client adds a Mailbox to an Email with Email/set instead).

A principal reaches only its own account for now (``principal.principal_of``), so every other
account id is fromAccountNotFound (the account to copy from) or accountNotFound (the account to
copy to), the errors RFC 8620 section 5.4 names, checked in that order. No copy can succeed, so
onSuccessDestroyOriginal (the implicit Email/set destroy in the from account after the successful
copies) never has anything to destroy; the copy itself comes with shared accounts."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MAIL_CAPABILITY, MethodError, MethodErrorType
from pochta.proto.jmap.standard import parse_copy
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["email_copy", "register_email_copy"]


async def email_copy(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_copy(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    if args.from_account_id not in context.principal.accounts:
        # RFC 8620 section 5.4: "The fromAccountId does not correspond to a valid account".
        raise MethodError(MethodErrorType.FROM_ACCOUNT_NOT_FOUND)
    source = context.account(args.from_account_id)
    # The account to copy to: accountNotFound (RFC 8620 section 3.6.2) when the principal has no
    # other account, which is every call today.
    context.writable_account(args.account_id)
    raise MethodError(  # unreachable while a principal has one account: two differ (parse_copy)
        MethodErrorType.SERVER_FAIL, f"copying from {source.id} to another account is not written yet"
    )


def register_email_copy(registry: MethodRegistry) -> None:
    registry.register("Email/copy", MAIL_CAPABILITY, email_copy)
