"""JMAP's settings (``[jmap]``; ``pochta.config`` re-exports the section; docs/jmap.md). The limits
are the core capability's (RFC 8620 section 2), advertised in the Session object and enforced."""

from __future__ import annotations

from pydantic import Field

from pochta.config_section import Section

__all__ = ["JmapSettings"]


class JmapSettings(Section):
    """JMAP (RFC 8620, docs/jmap.md): in progress: the core and the first Mail methods."""

    enabled: bool = Field(
        False,
        description="Serve JMAP on the HTTP listeners (/.well-known/jmap, /jmap/api). Off while JMAP "
        "is in progress: the core and the first Mail methods (docs/jmap.md) work yet.",
    )
    max_size_request: int = Field(
        10_000_000,
        ge=1024,
        description="maxSizeRequest: octets of one API request; a larger one is refused with the "
        "'limit' problem. The HTTP listener's http.max_body_size caps it too (the smaller is advertised).",
    )
    max_calls_in_request: int = Field(
        16, ge=1, le=1000, description="maxCallsInRequest: method calls in one API request."
    )
    max_concurrent_requests: int = Field(
        4,
        ge=1,
        le=1000,
        description="maxConcurrentRequests: API requests one user may have in progress at once, in "
        "each server worker process; more get the 'limit' problem.",
    )
    max_objects_in_get: int = Field(
        500, ge=1, le=100_000, description="maxObjectsInGet: ids one /get call may ask for."
    )
    max_objects_in_set: int = Field(
        500,
        ge=1,
        le=100_000,
        description="maxObjectsInSet: creates, updates and destroys one /set or /copy call may make.",
    )
    max_changes: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="The most ids one */changes call answers (RFC 8620 section 5.2: a smaller "
        "maxChanges of the client's wins); more changes come in further calls (hasMoreChanges).",
    )
    max_filter_depth: int = Field(
        10,
        ge=1,
        le=1000,
        description="FilterOperators one /query filter may nest (RFC 8620 section 5.5); deeper is "
        "unsupportedFilter.",
    )
    max_query_limit: int = Field(
        5000,
        ge=1,
        le=1_000_000,
        description="The most ids one /query response returns: a larger (or no) limit is lowered to "
        "it and the limit returned (RFC 8620 section 5.5).",
    )
    max_size_upload: int = Field(
        50_000_000,
        ge=1024,
        description="maxSizeUpload: octets of one uploaded blob (RFC 8620 section 6.1; the HTTP "
        "listener bounds /jmap/upload/ by it).",
    )
    upload_lifetime: int = Field(
        86_400,
        ge=60,
        le=30 * 86_400,
        description="Seconds an uploaded blob stays usable (downloadable) by the account that "
        "uploaded it; then the housekeeper prunes the upload and the blob is collected if "
        "nothing else refers to it.",
    )
    max_blob_data_sources: int = Field(
        64,
        ge=1,
        le=10_000,
        description="maxDataSources: data sources one Blob/upload creation may join (RFC 9404 "
        "section 3.1; the RFC asks servers to accept at least 64). The blob made is bounded by "
        "max_size_upload, as an upload is.",
    )
    max_concurrent_upload: int = Field(
        4,
        ge=1,
        le=1000,
        description="maxConcurrentUpload: uploads one user may have in progress at once, counted in "
        "each worker process.",
    )
    push_min_ping: int = Field(
        10,
        ge=1,
        le=30,
        description="Smallest ping interval (seconds) of a JMAP event source (RFC 8620 section 7.3); a "
        "smaller ping the client asks for is raised to it. The RFC forbids a minimum above 30.",
    )
    push_max_ping: int = Field(
        600,
        ge=300,
        le=86_400,
        description="Largest ping interval (seconds) of a JMAP event source; a larger one is lowered to "
        "it. The RFC forbids a maximum below 300.",
    )
    push_coalesce: float = Field(
        0.05,
        ge=0,
        le=10,
        description="Seconds a push waits after a change for more before it tells the client: a delivery "
        "to ten mailboxes, or a burst of flag changes, is one StateChange.",
    )
    push_max_pending: int = Field(
        1000,
        ge=10,
        le=1_000_000,
        description="Store changes one push connection may have waiting unread; past it they are "
        "dropped and the client is told every type changed.",
    )
    max_push_connections: int = Field(
        8,
        ge=1,
        le=10_000,
        description="Event streams (/jmap/eventsource/) and JMAP WebSockets one user may have open at "
        "once, in each server worker process; more are refused (an event stream with 429, a WebSocket "
        "handshake with 403).",
    )
