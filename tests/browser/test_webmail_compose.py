"""The webmail's compose panel in headless Chromium, against a real server with two local accounts:
alice reads a message delivered by LMTP, replies, and the reply arrives in bob's INBOX (IMAP) with
"Re: " and In-Reply-To equal to the original's Message-ID, the original marked \\Answered; a new
message with an attachment reaches bob with the attachment's exact octets; a draft saved while
typing is in Drafts (IMAP), one copy after several saves, and sending moves it to Sent; a forward
carries the original's attachment; the subject, quoting and recipient rules of replying.js as the
page loads it; screenshots and axe's check of the panel."""

from __future__ import annotations

import base64
import email
import email.policy
import imaplib
import json
import smtplib
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from serve_process import run_pochta
from web_env import ALICE, PASSWORD, WebEnv, start_web_server

MAX_RECIPIENTS = 5
WEBMAIL = (
    f"[webmail]\nenabled = true\n\n[jmap]\nenabled = true\n\n[limits]\nmax_recipients = {MAX_RECIPIENTS}\n"
)
BOB = "bob@example.org"
BOB_PASSWORD = "bob's own password"
ORIGINAL_ID = "lunch-plans-1@example.org"
# A few octets no text encoding would leave alone: the attachment must arrive exactly.
ATTACHMENT = bytes(range(256)) * 3 + b"\x00end"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC"
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    for running in start_web_server(tmp_path_factory.mktemp("compose"), WEBMAIL, ("lmtp",)):
        run_pochta(
            "user", "add", BOB, "--password-stdin", "--data", str(running.data), stdin=BOB_PASSWORD + "\n"
        )
        yield running


def deliver(web: WebEnv, message: bytes, to: str = ALICE) -> None:
    with smtplib.LMTP("127.0.0.1", web.port("lmtp")) as lmtp:
        assert lmtp.sendmail(BOB, [to], message) == {}


def _original() -> bytes:
    return (
        f"From: Bob Builder <{BOB}>\r\nTo: {ALICE}\r\nCc: carol@example.net\r\n"
        "Subject: Lunch plans\r\n"
        f"Message-ID: <{ORIGINAL_ID}>\r\n"
        "References: <earlier-1@example.org>\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Shall we eat at noon?\r\nThe usual place.\r\n"
    ).encode()


def _with_picture() -> bytes:
    message = EmailMessage()
    message["From"] = "Dave <dave@example.net>"
    message["To"] = ALICE
    message["Subject"] = "Holiday picture"
    message["Message-ID"] = "<picture-1@example.net>"
    message["Date"] = "Mon, 07 Dec 2026 10:00:00 +0000"
    message.set_content("The beach, attached.\n")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="beach.png")
    return message.as_bytes(policy=email.policy.SMTP)


def imap(user: str, password: str, port: int) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(user, password)
    return client


def messages_in(web: WebEnv, mailbox: str, user: str = ALICE, password: str = PASSWORD) -> list[EmailMessage]:
    client = imap(user, password, web.port("imap"))
    try:
        assert client.select(mailbox, readonly=True)[0] == "OK"
        _, found = client.search(None, "ALL")
        out = []
        for number in found[0].split():
            _, data = client.fetch(number, "(BODY.PEEK[])")
            out.append(email.message_from_bytes(data[0][1], policy=email.policy.default))  # type: ignore[index,arg-type]
        return out
    finally:
        client.logout()


def eventually(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.2)


def wait(driver: Any, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds, ignored_exceptions=[StaleElementReferenceException])


def check_page(driver: Any, request: pytest.FixtureRequest, step: str) -> None:
    screenshot(driver, request, step)
    violations = serious_accessibility_violations(driver)
    assert violations == [], [(v["id"], [n["html"] for n in v["nodes"]]) for v in violations]


@pytest.fixture(scope="module")
def signed_in(web: WebEnv, driver: Any) -> Any:
    deliver(web, _original())
    deliver(web, _with_picture())
    driver.get(f"http://127.0.0.1:{web.port('http')}/webmail/login")
    driver.find_element(By.ID, "address").send_keys(ALICE)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#message-list li.message")) == 2)
    return driver


def open_message(driver: Any, subject: str) -> None:
    def click(d: Any) -> bool:
        for row in d.find_elements(By.CSS_SELECTOR, "#message-list li.message"):
            if subject in row.text:
                row.find_element(By.CSS_SELECTOR, "a").click()
                return True
        return False

    driver.execute_script("location.hash = ''")
    wait(driver).until(click)
    wait(driver).until(lambda d: d.find_element(By.ID, "reader-subject").text == subject)


def panel(driver: Any) -> Any:
    found = driver.find_element(By.ID, "compose")
    wait(driver).until(lambda d: found.is_displayed())
    return found


def press(driver: Any, key: str) -> None:
    driver.find_element(By.TAG_NAME, "body").send_keys(key)


def send(driver: Any) -> None:
    driver.find_element(By.ID, "compose-body").send_keys(Keys.CONTROL, Keys.ENTER)
    wait(driver, 30).until(lambda d: not d.find_element(By.ID, "compose").is_displayed())
    assert driver.find_element(By.ID, "compose").get_attribute("data-sent")


def test_a_reply_arrives_in_the_other_account_threaded(
    signed_in: Any, web: WebEnv, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    open_message(driver, "Lunch plans")
    driver.find_element(By.ID, "reply").click()
    compose = panel(driver)
    chips = compose.find_elements(By.CSS_SELECTOR, "#compose-to-chips li.chip")
    assert [chip.get_attribute("title") for chip in chips] == [BOB]
    assert driver.find_element(By.ID, "compose-subject").get_attribute("value") == "Re: Lunch plans"
    # Cc and Bcc stay folded away until asked for (or filled).
    assert not compose.find_element(By.ID, "compose-cc-row").is_displayed()
    text = driver.find_element(By.ID, "compose-body").get_attribute("value")
    assert "Bob Builder wrote:\n> Shall we eat at noon?\n> The usual place." in text
    driver.find_element(By.ID, "compose-body").send_keys("Noon is fine.")
    check_page(driver, request, "reply")
    send(driver)

    def arrived() -> list[EmailMessage]:
        return [m for m in messages_in(web, "INBOX", BOB, BOB_PASSWORD) if m["Subject"] == "Re: Lunch plans"]

    [reply] = eventually(arrived, "the reply in bob's INBOX")
    # RFC 5322 section 3.6.4: In-Reply-To is the parent's Message-ID; References its References then it.
    assert reply["In-Reply-To"] == f"<{ORIGINAL_ID}>"
    assert reply["References"].split() == ["<earlier-1@example.org>", f"<{ORIGINAL_ID}>"]
    assert reply.get_content().startswith("Noon is fine.")
    assert "Re: Lunch plans" in [m["Subject"] for m in messages_in(web, "Sent")]
    assert messages_in(web, "Drafts") == []
    client = imap(ALICE, PASSWORD, web.port("imap"))
    try:
        client.select("INBOX", readonly=True)
        _, answered = client.search(None, "ANSWERED")
        _, subjects = client.fetch(answered[0].split()[0], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Lunch plans" in subjects[0][1]  # type: ignore[index,operator]
    finally:
        client.logout()


def test_a_reply_saved_as_a_draft_and_sent_later_still_answers_the_original(
    signed_in: Any, web: WebEnv
) -> None:
    driver = signed_in
    deliver(
        web,
        (
            f"From: Bob Builder <{BOB}>\r\nTo: {ALICE}\r\nSubject: Second question\r\n"
            "Message-ID: <second-question@example.org>\r\nDate: Mon, 07 Dec 2026 11:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnd dinner?\r\n"
        ).encode(),
    )
    open_message(driver, "Second question")
    press(driver, "r")
    compose = panel(driver)
    driver.find_element(By.ID, "compose-body").send_keys("Let me think.")
    driver.find_element(By.ID, "compose-body").send_keys(Keys.ESCAPE)
    wait(driver).until(lambda d: not compose.is_displayed())
    assert [m["Subject"] for m in messages_in(web, "Drafts")] == ["Re: Second question"]
    driver.find_element(By.XPATH, "//a[contains(@class,'folder')][span[text()='Drafts']]").click()
    open_message_in_list(driver, "Re: Second question")
    panel(driver)
    send(driver)
    [reply] = eventually(
        lambda: [
            m for m in messages_in(web, "INBOX", BOB, BOB_PASSWORD) if m["Subject"] == "Re: Second question"
        ],
        "the reply in bob's INBOX",
    )
    assert reply["In-Reply-To"] == "<second-question@example.org>"
    client = imap(ALICE, PASSWORD, web.port("imap"))
    try:
        client.select("INBOX", readonly=True)
        _, answered = client.search(None, "ANSWERED", "SUBJECT", '"Second question"')
        assert len(answered[0].split()) == 1
    finally:
        client.logout()


def open_message_in_list(driver: Any, subject: str) -> None:
    def click(d: Any) -> bool:
        for row in d.find_elements(By.CSS_SELECTOR, "#message-list li.message"):
            if subject in row.text:
                row.find_element(By.CSS_SELECTOR, "a").click()
                return True
        return False

    wait(driver).until(click)


def test_reply_all_leaves_out_the_users_own_address(signed_in: Any) -> None:
    driver = signed_in
    open_message(driver, "Lunch plans")
    press(driver, "a")
    compose = panel(driver)
    to = [
        chip.get_attribute("title")
        for chip in compose.find_elements(By.CSS_SELECTOR, "#compose-to-chips li.chip")
    ]
    cc = [
        chip.get_attribute("title")
        for chip in compose.find_elements(By.CSS_SELECTOR, "#compose-cc-chips li.chip")
    ]
    assert to == [BOB]
    assert cc == ["carol@example.net"]
    assert compose.find_element(By.ID, "compose-cc-row").is_displayed()
    assert not compose.find_element(By.ID, "compose-bcc-row").is_displayed()
    driver.find_element(By.ID, "compose-discard").click()
    wait(driver).until(lambda d: not d.find_element(By.ID, "compose").is_displayed())


def test_a_new_message_with_an_attachment_reaches_bob_exactly(
    signed_in: Any, web: WebEnv, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    driver.execute_script("location.hash = ''")
    press(driver, "c")
    panel(driver)
    to = driver.find_element(By.ID, "compose-to")
    to.send_keys("not an address", Keys.ENTER)
    assert to.get_attribute("aria-invalid") == "true"
    assert driver.find_element(By.ID, "compose-status").text == "Not an address: not an address"
    to.clear()
    to.send_keys(f"Bob <{BOB}>", Keys.ENTER)
    assert to.get_attribute("aria-invalid") == "false"
    assert driver.find_element(By.ID, "compose-status").text == ""
    driver.find_element(By.ID, "compose-subject").send_keys("The figures")
    driver.find_element(By.ID, "compose-body").send_keys("Attached.")
    attachment = tmp_path / "figures.bin"
    attachment.write_bytes(ATTACHMENT)
    unwanted = tmp_path / "unwanted.txt"
    unwanted.write_bytes(b"not this one\n")
    driver.find_element(By.ID, "compose-files").send_keys(f"{attachment}\n{unwanted}")
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#compose-attachments li .size")) == 2)
    # An attachment can be taken off before sending.
    driver.find_element(
        By.CSS_SELECTOR, "#compose-attachments button[aria-label='Remove unwanted.txt']"
    ).click()
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#compose-attachments li")) == 1)
    check_page(driver, request, "compose")
    send(driver)

    def arrived() -> list[EmailMessage]:
        return [m for m in messages_in(web, "INBOX", BOB, BOB_PASSWORD) if m["Subject"] == "The figures"]

    [sent] = eventually(arrived, "the message in bob's INBOX")
    [part] = list(sent.iter_attachments())
    assert part.get_filename() == "figures.bin"
    assert part.get_content() == ATTACHMENT


def test_a_draft_is_saved_while_typing_once_and_sending_moves_it_to_sent(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    press(driver, "c")
    compose = panel(driver)
    driver.find_element(By.ID, "compose-to").send_keys(BOB, Keys.ENTER)
    driver.find_element(By.ID, "compose-subject").send_keys("Draft in progress")
    body = driver.find_element(By.ID, "compose-body")
    seen: list[str] = []
    for words in ("First words.", " More words.", " Last words."):
        body.send_keys(words)
        # Saved about two seconds after the last key: each save a new Email replacing the old.
        wait(driver).until(lambda d: compose.get_attribute("data-draft-id") not in (None, *seen))
        seen.append(compose.get_attribute("data-draft-id"))
        drafts = messages_in(web, "Drafts")
        assert [m["Subject"] for m in drafts] == ["Draft in progress"]
    assert len(set(seen)) == 3
    [draft] = messages_in(web, "Drafts")
    assert draft.get_content().startswith("First words. More words. Last words.")
    # Esc closes and keeps it; opening it from Drafts edits the same draft.
    body.send_keys(Keys.ESCAPE)
    wait(driver).until(lambda d: not compose.is_displayed())
    drafts_link = driver.find_element(By.XPATH, "//a[contains(@class,'folder')][span[text()='Drafts']]")
    drafts_link.click()

    def open_draft(d: Any) -> bool:
        for row in d.find_elements(By.CSS_SELECTOR, "#message-list li.message"):
            if "Draft in progress" in row.text:
                row.find_element(By.CSS_SELECTOR, "a").click()
                return True
        return False

    wait(driver).until(open_draft)
    panel(driver)
    assert compose.get_attribute("data-draft-id") == seen[-1]
    assert driver.find_element(By.ID, "compose-subject").get_attribute("value") == "Draft in progress"
    send(driver)
    assert messages_in(web, "Drafts") == []
    [sent] = [m for m in messages_in(web, "Sent") if m["Subject"] == "Draft in progress"]
    assert sent.get_content().startswith("First words. More words. Last words.")
    eventually(
        lambda: [
            m for m in messages_in(web, "INBOX", BOB, BOB_PASSWORD) if m["Subject"] == "Draft in progress"
        ],
        "the draft sent to bob",
    )


def test_a_forward_carries_the_originals_attachment(
    signed_in: Any, web: WebEnv, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    driver.execute_script("location.hash = ''")
    open_message(driver, "Holiday picture")
    press(driver, "f")
    compose = panel(driver)
    assert driver.find_element(By.ID, "compose-subject").get_attribute("value") == "Fwd: Holiday picture"
    names = [
        li.find_element(By.CSS_SELECTOR, ".name").text
        for li in compose.find_elements(By.CSS_SELECTOR, "#compose-attachments li")
    ]
    assert names == ["beach.png"]
    driver.find_element(By.ID, "compose-to").send_keys(BOB, Keys.ENTER)
    check_page(driver, request, "forward")
    send(driver)

    def arrived() -> list[EmailMessage]:
        return [
            m for m in messages_in(web, "INBOX", BOB, BOB_PASSWORD) if m["Subject"] == "Fwd: Holiday picture"
        ]

    [forwarded] = eventually(arrived, "the forward in bob's INBOX")
    [part] = list(forwarded.iter_attachments())
    assert part.get_content() == PNG
    assert "The beach, attached." in forwarded.get_body(("plain",)).get_content()


def test_a_refused_send_is_said_in_words(signed_in: Any) -> None:
    driver = signed_in
    press(driver, "c")
    panel(driver)
    driver.find_element(By.ID, "compose-subject").send_keys("Nobody")
    driver.find_element(By.ID, "compose-body").send_keys(Keys.CONTROL, Keys.ENTER)
    wait(driver).until(lambda d: "Add at least one recipient" in d.find_element(By.ID, "compose-status").text)
    driver.find_element(By.ID, "compose-discard").click()
    wait(driver).until(lambda d: not d.find_element(By.ID, "compose").is_displayed())


def test_too_many_recipients_is_said_in_words_and_the_draft_kept(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    driver.execute_script("location.hash = ''")
    press(driver, "c")
    compose = panel(driver)
    crowd = [f"guest{i}@example.net" for i in range(MAX_RECIPIENTS)]
    # A pasted list becomes one chip per address.
    driver.execute_script(
        "const input = document.getElementById('compose-to'); input.focus();"
        "const data = new DataTransfer(); data.setData('text/plain', arguments[0]);"
        "const paste = {clipboardData: data, bubbles: true, cancelable: true};"
        "input.dispatchEvent(new ClipboardEvent('paste', paste));",
        f"Bob <{BOB}>, " + "; ".join(crowd),
    )
    assert len(compose.find_elements(By.CSS_SELECTOR, "#compose-to-chips li.chip")) == MAX_RECIPIENTS + 1
    driver.find_element(By.ID, "compose-subject").send_keys("A crowd")
    driver.find_element(By.ID, "compose-body").send_keys(Keys.CONTROL, Keys.ENTER)
    wait(driver).until(
        lambda d: "Too many recipients for one message." in d.find_element(By.ID, "compose-status").text
    )
    assert [m["Subject"] for m in messages_in(web, "Drafts")] == ["A crowd"]
    driver.find_element(By.ID, "compose-discard").click()
    wait(driver).until(lambda d: not compose.is_displayed())
    eventually(lambda: messages_in(web, "Drafts") == [], "the discarded draft gone")


def jmap_as_alice(web: WebEnv, *calls: list[Any]) -> list[Any]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    using = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"]
    body = json.dumps({"using": using, "methodCalls": list(calls)}).encode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    response = web.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    return json.loads(response.body)["methodResponses"]  # type: ignore[no-any-return]


def test_the_identitys_signature_is_put_under_the_text(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    session = json.loads(
        web.get("/.well-known/jmap", tls=True, headers={"Authorization": f"Basic {token}"}).body
    )
    account = session["primaryAccounts"]["urn:ietf:params:jmap:core"]
    [[_, got, _]] = jmap_as_alice(web, ["Identity/get", {"accountId": account, "ids": None}, "g"])
    [own] = got["list"]
    [[_, answer, _]] = jmap_as_alice(
        web,
        [
            "Identity/set",
            {"accountId": got["accountId"], "update": {own["id"]: {"textSignature": "Alice\nExample Org"}}},
            "s",
        ],
    )
    assert own["id"] in answer["updated"], answer
    driver.execute_script("location.hash = ''")
    press(driver, "c")
    panel(driver)
    assert driver.find_element(By.ID, "compose-body").get_attribute("value") == "\n\n-- \nAlice\nExample Org"
    driver.find_element(By.ID, "compose-body").send_keys(Keys.ESCAPE)
    wait(driver).until(lambda d: not d.find_element(By.ID, "compose").is_displayed())
    jmap_as_alice(
        web,
        ["Identity/set", {"accountId": got["accountId"], "update": {own["id"]: {"textSignature": ""}}}, "s"],
    )


def run_replying(driver: Any, function: str, *args: Any) -> Any:
    return driver.execute_async_script(
        "const [name, args, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];"
        "import('/webmail/static/replying.js').then((m) => done(m[name](...args)));",
        function,
        list(args),
    )


@pytest.mark.parametrize(
    ("subject", "reply", "forward"),
    [
        ("Lunch", "Re: Lunch", "Fwd: Lunch"),
        ("Re: Lunch", "Re: Lunch", "Fwd: Lunch"),
        ("RE: Re: Fwd: Lunch", "Re: Lunch", "Fwd: Lunch"),
        ("Re[2]: AW: Lunch", "Re: Lunch", "Fwd: Lunch"),
        ("Fw: Lunch: the menu", "Re: Lunch: the menu", "Fwd: Lunch: the menu"),
    ],
)
def test_subject_prefixes_never_stack(signed_in: Any, subject: str, reply: str, forward: str) -> None:
    assert run_replying(signed_in, "replySubject", subject) == reply
    assert run_replying(signed_in, "forwardSubject", subject) == forward


def test_threading_and_recipients_rules(signed_in: Any) -> None:
    driver = signed_in
    # RFC 5322 section 3.6.4: without References, a single In-Reply-To stands for them.
    assert run_replying(driver, "threadingOf", {"messageId": ["b@x"], "inReplyTo": ["a@x"]}) == {
        "inReplyTo": ["b@x"],
        "references": ["a@x", "b@x"],
    }
    assert run_replying(driver, "threadingOf", {"messageId": None}) == {"inReplyTo": None, "references": None}
    original = {
        "from": [{"email": "bob@example.org"}],
        "replyTo": [{"email": "list@example.org"}],
        "to": [{"email": "ALICE@example.org"}, {"email": "dan@example.org"}],
        "cc": [{"email": "list@example.org"}, {"email": "erin@example.org"}],
    }
    assert run_replying(driver, "replyRecipients", original, True, ["alice@example.org"]) == {
        "to": [{"email": "list@example.org"}],
        "cc": [{"email": "dan@example.org"}, {"email": "erin@example.org"}],
    }
    assert run_replying(driver, "splitAddresses", 'a@x, "Doe, Jane" <j@x>; c@x\nd@x') == [
        "a@x",
        '"Doe, Jane" <j@x>',
        "c@x",
        "d@x",
    ]
    assert run_replying(driver, "parseAddress", '"Doe, Jane" <j@x.org>') == {
        "name": "Doe, Jane",
        "email": "j@x.org",
    }
    assert run_replying(driver, "parseAddress", "no at sign") is None
    assert (
        run_replying(driver, "quoted", "one\n> two", None, "Bob")
        == "On an earlier date, Bob wrote:\n> one\n>> two\n"
    )


def test_drafts_is_made_when_the_account_has_none(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    client = imap(ALICE, PASSWORD, web.port("imap"))
    try:
        assert client.delete("Drafts")[0] == "OK"
    finally:
        client.logout()
    # Push brings the folder list up to date: no folder of role drafts any more.
    wait(driver).until(
        lambda d: not d.find_elements(By.XPATH, "//a[contains(@class,'folder')][span[text()='Drafts']]")
    )
    driver.execute_script("location.hash = ''")
    press(driver, "c")
    compose = panel(driver)
    driver.find_element(By.ID, "compose-subject").send_keys("Where do drafts go")
    wait(driver).until(lambda d: compose.get_attribute("data-draft-id"))
    client = imap(ALICE, PASSWORD, web.port("imap"))
    try:
        _, listed = client.list('""', "Drafts")
        assert listed[0] is not None
        assert b"\\Drafts" in listed[0]
    finally:
        client.logout()
    assert [m["Subject"] for m in messages_in(web, "Drafts")] == ["Where do drafts go"]
    driver.find_element(By.ID, "compose-discard").click()
    wait(driver).until(lambda d: not compose.is_displayed())
    eventually(lambda: messages_in(web, "Drafts") == [], "the discarded draft gone")


def test_the_panel_takes_a_phones_whole_screen(signed_in: Any, request: pytest.FixtureRequest) -> None:
    driver = signed_in
    size = driver.get_window_size()
    driver.set_window_size(390, 844)
    try:
        driver.execute_script("location.hash = ''")
        press(driver, "c")
        compose = panel(driver)
        width, height = driver.execute_script("return [innerWidth, innerHeight]")
        rect = compose.rect
        assert (rect["x"], rect["y"]) == (0, 0)
        assert rect["width"] == width
        assert rect["height"] == height
        check_page(driver, request, "phone-compose")
        compose.find_element(By.ID, "compose-body").send_keys(Keys.ESCAPE)
        wait(driver).until(lambda d: not compose.is_displayed())
    finally:
        driver.set_window_size(size["width"], size["height"])
