"""The webmail's sign-in, session cookie, CSRF token and sign-out on a real server
(tests/web_env.py, ``[webmail] enabled``): what a browser does, spelt out with http.client (the
browser tests in tests/browser do it with Chromium)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from serve_process import run_pochta
from web_env import ALICE, PASSWORD, Response, WebEnv, start_web_server

CONFIG = (
    "[webmail]\nenabled = true\n\n[jmap]\nenabled = true\n\n"
    "[login]\nfailures_before_delay = 100\nlockout_after = 6\n"
)
BOB = "bob@example.org"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("webmail"), CONFIG)


def cookies_of(response: Response) -> dict[str, tuple[str, str]]:
    """name -> (value, the whole Set-Cookie line) of each cookie the response sets."""
    found: dict[str, tuple[str, str]] = {}
    for line in response.headers.get_all("Set-Cookie") or []:
        jar = SimpleCookie()
        jar.load(line)
        for name, morsel in jar.items():
            found[name] = (morsel.value, line)
    return found


class Browser:
    """A cookie jar over ``WebEnv.request`` (one scheme: the cookies differ by it)."""

    def __init__(self, env: WebEnv, *, tls: bool = False) -> None:
        self.env, self.tls = env, tls
        self.jar: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None, **headers: str) -> Response:
        sent = dict(headers)
        if self.jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.env.request(method, path, tls=self.tls, body=body, headers=sent)
        for name, (value, line) in cookies_of(response).items():
            if "Max-Age=0" in line or not value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def login_token(self) -> str:
        page = self.request("GET", "/webmail/login")
        assert page.status == 200, page.body
        found = re.search(rb'name="token" value="([^"]+)"', page.body)
        assert found is not None
        return found.group(1).decode()

    def sign_in(self, address: str = ALICE, password: str = PASSWORD) -> Response:
        token = self.login_token()
        return self.request(
            "POST", "/webmail/login", {"token": token, "address": address, "password": password}
        )

    def csrf(self) -> str:
        home = self.request("GET", "/webmail/")
        assert home.status == 200, home.body
        found = re.search(rb'name="csrf-token" content="([^"]+)"', home.body)
        assert found is not None
        return found.group(1).decode()


def test_the_home_page_sends_a_stranger_to_sign_in(env: WebEnv) -> None:
    response = env.get("/webmail/")
    assert response.status == 303
    assert response.headers["Location"] == "/webmail/login"
    assert env.get("/webmail").status == 308


def test_sign_in_page_is_served_with_a_strict_policy(env: WebEnv) -> None:
    response = env.get("/webmail/login")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    [(value, line)] = cookies_of(response).values()
    assert "HttpOnly" in line
    assert "SameSite=strict" in line or "SameSite=Strict" in line
    assert value.encode() in response.body  # the double-submit token is the form's hidden field


def test_sign_in_then_the_page_names_the_account(env: WebEnv) -> None:
    browser = Browser(env)
    response = browser.sign_in()
    assert response.status == 303
    assert response.headers["Location"] == "/webmail/"
    assert "pochta_session" in browser.jar
    assert "pochta_login" not in browser.jar  # the sign-in form's token is spent
    home = browser.request("GET", "/webmail/")
    assert home.status == 200
    assert ALICE.encode() in home.body
    assert browser.request("GET", "/webmail/login").status == 303  # signed in: straight home


def test_over_https_the_cookie_is_secure_and_host_only(env: WebEnv) -> None:
    browser = Browser(env, tls=True)
    response = browser.sign_in()
    assert response.status == 303
    cookies = cookies_of(response)
    value, line = cookies["__Host-pochta_session"]
    assert value
    assert "Secure" in line
    assert "Path=/" in line
    assert "Domain" not in line
    assert browser.request("GET", "/webmail/").status == 200


def test_wrong_password_and_stale_form_are_refused(env: WebEnv) -> None:
    browser = Browser(env)
    wrong = browser.sign_in(password="wrong")
    assert wrong.status == 403
    assert b"Wrong address or password" in wrong.body
    assert "pochta_session" not in browser.jar
    # A post without the form's cookie (another site's form, or an old page): no sign-in at all.
    stale = Browser(env).request(
        "POST", "/webmail/login", {"token": "made-up", "address": ALICE, "password": PASSWORD}
    )
    assert stale.status == 403
    assert b"expired" in stale.body
    assert "pochta_session" not in cookies_of(stale)
    not_a_form = browser.request("POST", "/webmail/login", None)
    assert not_a_form.status == 415


def test_an_app_password_does_not_sign_in_to_the_webmail(env: WebEnv) -> None:
    out = run_pochta("app-password", "add", ALICE, "laptop", "--data", str(env.data)).stdout
    found = re.search(r"password: (\S+)", out)
    assert found is not None, out
    browser = Browser(env)
    response = browser.sign_in(password=found.group(1))
    assert response.status == 403
    assert b"app password" in response.body
    assert "pochta_session" not in browser.jar


def test_sign_out_needs_the_pages_token_and_ends_the_session(env: WebEnv) -> None:
    browser = Browser(env)
    browser.sign_in()
    csrf = browser.csrf()
    cookie = dict(browser.jar)
    forged = browser.request("POST", "/webmail/logout", {"csrf": "forged"})
    assert forged.status == 403
    other_origin = browser.request("POST", "/webmail/logout", {"csrf": csrf}, Origin="https://evil.example")
    assert other_origin.status == 403
    assert browser.request("GET", "/webmail/").status == 200  # still signed in
    out = browser.request("POST", "/webmail/logout", {"csrf": csrf})
    assert out.status == 303
    assert out.headers["Location"] == "/webmail/login"
    assert "pochta_session" not in browser.jar
    # The old cookie, replayed, signs no one in: the session is gone from the store.
    replay = Browser(env)
    replay.jar.update(cookie)
    assert replay.request("GET", "/webmail/").status == 303


def test_sessions_are_shared_by_the_workers(env: WebEnv) -> None:
    # Two worker processes accept on the same port: over many new connections both serve the
    # cookie, and a sign-out through one is seen by the other at once.
    browser = Browser(env)
    browser.sign_in()
    assert all(browser.request("GET", "/webmail/").status == 200 for _ in range(12))
    browser.request("POST", "/webmail/logout", {"csrf": browser.csrf()})
    replayed = Browser(env)
    assert all(replayed.request("GET", "/webmail/").status == 303 for _ in range(6))


def test_disabling_the_account_ends_its_sessions(env: WebEnv) -> None:
    run_pochta("user", "add", BOB, "--password-stdin", "--data", str(env.data), stdin="bob's password\n")
    browser = Browser(env)
    assert browser.sign_in(BOB, "bob's password").status == 303
    assert browser.request("GET", "/webmail/").status == 200
    run_pochta("user", "set", BOB, "--disable", "--data", str(env.data))
    assert browser.request("GET", "/webmail/").status == 303


def test_static_files_are_served_with_an_etag(env: WebEnv) -> None:
    style = env.get("/webmail/static/style.css")
    assert style.status == 200
    assert style.headers["Content-Type"].startswith("text/css")
    etag = style.headers["ETag"]
    assert env.get("/webmail/static/style.css", headers={"If-None-Match": etag}).status == 304
    for name in ("missing.css", "..%2Fsessions.py", "style.py"):
        assert env.get(f"/webmail/static/{name}").status == 404


def test_the_session_cookie_is_a_jmap_login_with_its_csrf_token(env: WebEnv) -> None:
    # The webmail is a JMAP client: its cookie opens the Session and the API, and a POST must
    # carry the session's token (X-CSRF-Token) as the webmail's scripts send it.
    browser = Browser(env)
    browser.sign_in()
    csrf = browser.csrf()
    session = browser.request("GET", "/.well-known/jmap")
    assert session.status == 200, session.body
    assert json.loads(session.body)["username"] == ALICE
    call = {"using": ["urn:ietf:params:jmap:core"], "methodCalls": [["Core/echo", {"x": 1}, "c1"]]}
    body = json.dumps(call).encode()
    headers = {
        "Cookie": "; ".join(f"{k}={v}" for k, v in browser.jar.items()),
        "Content-Type": "application/json",
    }
    refused = env.request("POST", "/jmap/api", body=body, headers=headers)
    assert refused.status == 403  # no token: another site's request would look like this
    answered = env.request("POST", "/jmap/api", body=body, headers={**headers, "X-CSRF-Token": csrf})
    assert answered.status == 200, answered.body
    assert json.loads(answered.body)["methodResponses"] == [["Core/echo", {"x": 1}, "c1"]]
    browser.request("POST", "/webmail/logout", {"csrf": csrf})
    after = env.request("POST", "/jmap/api", body=body, headers={**headers, "X-CSRF-Token": csrf})
    assert after.status == 401  # the session is over: Basic is asked for


def test_repeated_failures_lock_the_sign_in_out(env: WebEnv) -> None:
    # Last in the file: the lockout holds the client's address (127.0.0.1) for every later sign-in.
    browser = Browser(env)
    address = "nobody-" + str(int(time.time())) + "@example.org"
    statuses = [browser.sign_in(address, "wrong").status for _ in range(8)]
    assert statuses[0] == 403
    assert statuses[-1] == 429
    page = browser.sign_in(address, "wrong")
    assert b"Too many failed sign-ins" in page.body
