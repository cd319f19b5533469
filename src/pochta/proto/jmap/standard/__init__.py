"""The arguments of the standard methods every data type may have (RFC 8620 section 5), parsed
into typed values with the RFC's rules; a type's handler reads them with ``parse_*``."""

from pochta.proto.jmap.standard.changes import ChangesArgs, parse_changes
from pochta.proto.jmap.standard.copy import CopyArgs, parse_copy
from pochta.proto.jmap.standard.filter import Comparator, Filter, FilterCondition, FilterOperator
from pochta.proto.jmap.standard.get import GetArgs, parse_get, wanted_properties
from pochta.proto.jmap.standard.query import QueryArgs, QueryWindow, parse_query, query_response, query_window
from pochta.proto.jmap.standard.query_changes import QueryChangesArgs, parse_query_changes
from pochta.proto.jmap.standard.set import SetArgs, SetOutcome, parse_set, require_state

__all__ = [
    "ChangesArgs",
    "Comparator",
    "CopyArgs",
    "Filter",
    "FilterCondition",
    "FilterOperator",
    "GetArgs",
    "QueryArgs",
    "QueryChangesArgs",
    "QueryWindow",
    "SetArgs",
    "SetOutcome",
    "parse_changes",
    "parse_copy",
    "parse_get",
    "parse_query",
    "parse_query_changes",
    "parse_set",
    "query_response",
    "query_window",
    "require_state",
    "wanted_properties",
]
