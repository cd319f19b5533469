"""The HTTP listener's body bounds (``pochta.server.http.limits``): which bound a path gets, and
the two deadlines of a body being read."""

from __future__ import annotations

from pochta.config import Settings
from pochta.server.http.limits import BodyClock, RouteBodyLimit, body_limit

ROUTES = (
    RouteBodyLimit("/upload/", lambda settings: settings.http.max_body_size * 100),
    RouteBodyLimit("/upload/tiny/", lambda _settings: 10),
)


def test_a_path_without_a_route_gets_the_global_bound_read_whole() -> None:
    settings = Settings.model_validate({"http": {"max_body_size": 1000}})
    bound = body_limit("/autodiscover/autodiscover.xml", ROUTES, settings)
    assert (bound.size, bound.streamed) == (1000, False)


def test_the_longest_matching_prefix_wins_and_streams() -> None:
    settings = Settings.model_validate({"http": {"max_body_size": 1000}})
    assert body_limit("/upload/x", ROUTES, settings).size == 100_000
    assert body_limit("/upload/tiny/x", ROUTES, settings).size == 10
    assert body_limit("/upload/x", ROUTES, settings).streamed


def test_a_route_bound_follows_the_settings_of_the_request() -> None:
    before = Settings.model_validate({"http": {"max_body_size": 1000}})
    after = Settings.model_validate({"http": {"max_body_size": 2000}})  # a reload
    assert body_limit("/upload/x", ROUTES, before).size == 100_000
    assert body_limit("/upload/x", ROUTES, after).size == 200_000


def test_body_clock_stall_and_whole_body_deadlines() -> None:
    clock = BodyClock(100.0, base=30.0, min_rate=1000)
    assert clock.deadline(100.0) == 130.0  # nothing yet: body_timeout from the start
    clock.took(60_000)  # earns 60 s for the whole body
    assert clock.deadline(101.0) == 131.0  # but the next octet within body_timeout
    assert clock.deadline(170.0) == 190.0  # the whole body: 100 + 30 + 60
    assert clock.deadline(189.0) == 190.0
