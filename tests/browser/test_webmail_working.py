"""The webmail's reading and working view in headless Chromium, against a real server: an HTML
message shown sanitised in its sandboxed frame with its remote image held back until asked, an
attachment downloaded and an image previewed, a message dragged onto a folder and seen moved in
an IMAP session, a star that IMAP sees as \\Flagged, search by from: and by words, Gmail's keys;
screenshots of each view (a phone's too) and axe-core's check of each."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import smtplib
import socket
from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from web_env import ALICE, PASSWORD, WebEnv


def _closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on: a remote image there fetches nothing anywhere."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


REMOTE = f"http://127.0.0.1:{_closed_port()}/tracker.png"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC"
)
# A one-page PDF with no content: what the browser's viewer is handed in the preview.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

HTML_MESSAGE = (
    "From: Carol Newsletter <carol@example.net>\r\n"
    f"To: {ALICE}\r\n"
    "Subject: Winter newsletter\r\n"
    "Message-ID: <news-1@example.net>\r\n"
    "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><body><h1 id=title>Snow is coming</h1>"
    '<p style="color: rgb(200,0,0)">Read <a href="https://example.net/more">more</a>.</p>'
    f'<img id=remote src="{REMOTE}" alt="tracker">'
    "<script>document.title='owned'</script>"
    '<p onclick="alert(1)" id=clicky>no handlers</p></body></html>\r\n'
)


def _attachment_message() -> str:
    png = base64.encodebytes(PNG).decode().replace("\n", "\r\n")
    return (
        "From: Dave Photos <dave@example.net>\r\n"
        f"To: {ALICE}\r\n"
        "Subject: Holiday pictures\r\n"
        "Message-ID: <photos-1@example.net>\r\n"
        "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n'
        "\r\n--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Pictures attached, see also https://example.net/album for the rest.\r\n"
        "--b1\r\n"
        'Content-Type: image/png; name="beach.png"\r\n'
        'Content-Disposition: attachment; filename="beach.png"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{png}"
        "--b1\r\n"
        'Content-Type: application/pdf; name="plan.pdf"\r\n'
        'Content-Disposition: attachment; filename="plan.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.encodebytes(PDF).decode().replace(chr(10), chr(13) + chr(10))}"
        "--b1--\r\n"
    )


def _plain(subject: str, sender: str, text: str, hour: int) -> str:
    return (
        f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{hashlib.sha1(subject.encode()).hexdigest()}@example.net>\r\n"
        f"Date: Mon, 07 Dec 2026 {hour:02d}:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
    )


def deliver(web: WebEnv, message: str) -> None:
    with smtplib.LMTP("127.0.0.1", web.port("lmtp")) as lmtp:
        assert lmtp.sendmail("someone@example.net", [ALICE], message.encode()) == {}


def imap(web: WebEnv) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", web.port("imap"))
    client.login(ALICE, PASSWORD)
    return client


def subjects_in(web: WebEnv, mailbox: str) -> list[str]:
    client = imap(web)
    try:
        assert client.select(mailbox)[0] == "OK"
        _, found = client.search(None, "ALL")
        out = []
        for number in found[0].split():
            _, data = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            out.append(data[0][1].decode().split(":", 1)[1].strip())  # type: ignore[index,union-attr]
        return out
    finally:
        client.logout()


@pytest.fixture(scope="module")
def signed_in(web: WebEnv, driver: Any) -> Any:
    deliver(
        web, _plain("Quarterly figures", "Erin Accounts <erin@example.net>", "The totals for the quarter.", 6)
    )
    deliver(web, _plain("Team lunch", "Frank <frank@example.net>", "Pizza with pineapple on Thursday.", 7))
    deliver(web, _attachment_message())
    deliver(web, HTML_MESSAGE)
    driver.get(f"http://127.0.0.1:{web.port('http')}/webmail/login")
    driver.find_element(By.ID, "address").send_keys(ALICE)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    wait(driver).until(lambda d: len(rows(d)) == 4)
    return driver


def wait(driver: Any) -> WebDriverWait:
    # Push redraws the list when the account changes: an element may go stale under a check.
    return WebDriverWait(driver, 15, ignored_exceptions=[StaleElementReferenceException])


def rows(driver: Any) -> list[Any]:
    return list(driver.find_elements(By.CSS_SELECTOR, "#message-list li.message"))


def row_named(driver: Any, subject: str) -> Any:
    def find(d: Any) -> Any:
        return next((row for row in rows(d) if subject in row.text), None)

    return wait(driver).until(find)


def click_row(driver: Any, subject: str, what: str = "a") -> None:
    def click(d: Any) -> bool:
        row_named(d, subject).find_element(By.CSS_SELECTOR, what).click()
        return True

    wait(driver).until(click)


def folder_link(driver: Any, name: str) -> Any:
    return driver.find_element(By.XPATH, f"//a[contains(@class,'folder')][span[text()='{name}']]")


def click_folder(driver: Any, name: str) -> None:
    def click(d: Any) -> bool:  # push redraws the folders: again if the link went stale
        folder_link(d, name).click()
        return True

    wait(driver).until(click)


def back_to_inbox(driver: Any) -> None:
    driver.execute_script("location.hash = ''")
    click_folder(driver, "INBOX")
    wait(driver).until(lambda d: d.find_element(By.ID, "list-view").is_displayed())


def check_page(driver: Any, request: pytest.FixtureRequest, step: str) -> None:
    screenshot(driver, request, step)
    assert serious_accessibility_violations(driver) == []


FETCH_HEADERS = (
    "const done = arguments[arguments.length - 1];"
    "fetch(arguments[0]).then((r) => done([r.status, r.headers.get('content-security-policy'),"
    " r.headers.get('content-disposition')]));"
)


def test_html_message_is_sanitised_and_its_remote_image_shown_on_request(
    signed_in: Any, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    click_row(driver, "Winter newsletter")
    frame = wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "iframe.message-frame"))
    assert frame.get_attribute("sandbox") == "allow-same-origin allow-popups allow-popups-to-escape-sandbox"
    bar = wait(driver).until(lambda d: d.find_element(By.ID, "images-bar"))
    wait(driver).until(lambda d: bar.is_displayed())
    assert "1 remote image hidden" in bar.text
    check_page(driver, request, "html-images-held")
    driver.switch_to.frame(frame)
    try:
        assert driver.find_element(By.TAG_NAME, "h1").text == "Snow is coming"  # ids are dropped
        assert driver.find_elements(By.TAG_NAME, "script") == []
        assert driver.find_element(By.XPATH, "//p[text()='no handlers']").get_attribute("onclick") is None
        assert driver.find_element(By.TAG_NAME, "img").get_attribute("src") in (None, "")
        link = driver.find_element(By.LINK_TEXT, "more")
        assert link.get_attribute("target") == "_blank"
        assert set(link.get_attribute("rel").split()) >= {"noopener", "noreferrer"}
        assert driver.title != "owned"
    finally:
        driver.switch_to.default_content()
    # Opening it marked it read: the inbox's count went from 4 to 3.
    wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "a.folder .unread").text == "3")

    driver.find_element(By.ID, "show-images").click()
    wait(driver).until(
        lambda d: (
            "images=show" in d.find_element(By.CSS_SELECTOR, "iframe.message-frame").get_attribute("src")
        )
    )
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe.message-frame"))
    try:
        wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "img").get_attribute("src") == REMOTE)
    finally:
        driver.switch_to.default_content()
    assert not driver.find_element(By.ID, "images-bar").is_displayed()
    # The frame's own policy: no script ever; remote images only in the document asked for them.
    shown = driver.find_element(By.CSS_SELECTOR, "iframe.message-frame").get_attribute("src")
    status, policy, _ = driver.execute_async_script(FETCH_HEADERS, shown)
    assert status == 200
    assert "script-src 'none'" in policy
    assert " http: https:" in policy
    _, held_policy, _ = driver.execute_async_script(FETCH_HEADERS, shown.replace("?images=show", ""))
    assert "script-src 'none'" in held_policy
    assert " http: https:" not in held_policy
    check_page(driver, request, "html-images-shown")
    back_to_inbox(driver)


def test_attachment_downloads_and_an_image_previews(signed_in: Any, request: pytest.FixtureRequest) -> None:
    driver = signed_in
    click_row(driver, "Holiday pictures")
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.attachment")) == 2)
    item, pdf = driver.find_elements(By.CSS_SELECTOR, "li.attachment")
    assert "beach.png" in item.text
    assert "image/png" in item.text
    assert f"{len(PNG)} B" in item.text
    body = driver.find_element(By.CSS_SELECTOR, "#reader-body pre.body")
    album = body.find_element(By.LINK_TEXT, "https://example.net/album")
    assert album.get_attribute("rel") == "noopener noreferrer"
    assert album.get_attribute("target") == "_blank"
    href = item.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
    assert "/jmap/download/" in href
    # The download as the browser gets it (its cookie): the attachment's very octets.
    got = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(async (r) => done([r.status, r.headers.get('content-disposition'),"
        " Array.from(new Uint8Array(await r.arrayBuffer()))]));",
        href,
    )
    assert got[0] == 200
    assert got[1].startswith("attachment")
    assert bytes(got[2]) == PNG
    # Shown in the browser (a preview) only as the image it is: asked as HTML it stays an attachment.
    _, _, inline = driver.execute_async_script(FETCH_HEADERS, href + "&inline=1")
    assert inline.startswith("inline")
    as_html = href.replace("accept=image%2Fpng", "accept=text%2Fhtml") + "&inline=1"
    assert "text%2Fhtml" in as_html
    _, policy, forced = driver.execute_async_script(FETCH_HEADERS, as_html)
    assert forced.startswith("attachment")
    assert policy.endswith("sandbox")
    item.find_element(By.CSS_SELECTOR, "button.preview").click()
    image = wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "#preview img"))
    wait(driver).until(lambda d: d.execute_script("return arguments[0].naturalWidth", image) == 8)
    check_page(driver, request, "attachment-preview")
    # A PDF previews in a frame of the browser's viewer: shown inline, framed by our page only.
    assert "plan.pdf" in pdf.text
    assert "application/pdf" in pdf.text
    pdf.find_element(By.CSS_SELECTOR, "button.preview").click()
    frame = wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "#preview iframe.pdf"))
    assert frame.get_attribute("sandbox") is None
    _, policy, disposition = driver.execute_async_script(FETCH_HEADERS, frame.get_attribute("src"))
    assert disposition.startswith("inline")
    assert policy == "frame-ancestors 'self'"
    back_to_inbox(driver)


# Selenium's drag gestures do not drive HTML5 drag and drop in Chromium: the same events a drag
# fires, with one DataTransfer carried from the row to the folder.
DRAG = (
    "const [row, folder] = arguments; const data = new DataTransfer();"
    "const steps = [[row, 'dragstart'], [folder, 'dragenter'], [folder, 'dragover'],"
    " [folder, 'drop'], [row, 'dragend']];"
    "for (const [node, type] of steps)"
    "  node.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));"
)


def test_a_message_dragged_onto_a_folder_moves_in_imap(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    wait(driver).until(lambda d: any("Team lunch" in row.text for row in rows(d)))

    def drag(d: Any) -> bool:  # again if push redrew the list under it (a stale row)
        d.execute_script(DRAG, row_named(d, "Team lunch"), folder_link(d, "Archive"))
        return True

    wait(driver).until(drag)
    wait(driver).until(lambda d: not any("Team lunch" in row.text for row in rows(d)))
    assert "Team lunch" not in subjects_in(web, "INBOX")
    assert subjects_in(web, "Archive") == ["Team lunch"]


def test_a_star_set_in_the_webmail_is_flagged_in_imap(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    click_row(driver, "Quarterly figures", "button.star")
    wait(driver).until(
        lambda d: (
            row_named(d, "Quarterly figures")
            .find_element(By.CSS_SELECTOR, "button.star")
            .get_attribute("aria-pressed")
            == "true"
        )
    )
    client = imap(web)
    try:
        client.select("INBOX", readonly=True)
        _, found = client.search(None, "FLAGGED")
        assert len(found[0].split()) == 1
        _, data = client.fetch(found[0].split()[0], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Quarterly figures" in data[0][1]  # type: ignore[index,operator]
    finally:
        client.logout()


def test_search_by_from_and_by_words(signed_in: Any, request: pytest.FixtureRequest) -> None:
    driver = signed_in
    box = driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys("from:erin@example.net\n")
    wait(driver).until(lambda d: len(rows(d)) == 1 and "Erin Accounts" in rows(d)[0].text)
    assert "Search: from:erin@example.net" in driver.find_element(By.ID, "folder-title").text
    check_page(driver, request, "search-results")
    box = driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys("pineapple\n")  # in the Archive now: a search looks in every folder
    wait(driver).until(lambda d: len(rows(d)) == 1 and "Team lunch" in rows(d)[0].text)
    box = driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys("is:starred\n")
    wait(driver).until(lambda d: len(rows(d)) == 1 and "Quarterly figures" in rows(d)[0].text)
    back_to_inbox(driver)


def test_keyboard_j_k_o_e(signed_in: Any, web: WebEnv, request: pytest.FixtureRequest) -> None:
    driver = signed_in
    wait(driver).until(lambda d: len(rows(d)) == 3)
    body = driver.find_element(By.TAG_NAME, "body")
    driver.execute_script("document.activeElement.blur()")
    current = lambda d: d.find_element(By.CSS_SELECTOR, "li.message.current").text  # noqa: E731
    first = wait(driver).until(current)
    body.send_keys("j")
    wait(driver).until(lambda d: current(d) != first)
    second = wait(driver).until(current)
    driver.switch_to.active_element.send_keys("j")
    wait(driver).until(lambda d: current(d) != second)
    driver.switch_to.active_element.send_keys("k")
    wait(driver).until(lambda d: current(d) == second)
    subject = wait(driver).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "li.message.current .subject").text
    )
    subject = subject.removeprefix("📎").strip()  # the list's mark of attachments
    driver.switch_to.active_element.send_keys("x")  # checks the message at the cursor
    wait(driver).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "li.message.current input.select").is_selected()
    )
    driver.switch_to.active_element.send_keys("x")  # and again unchecks it
    wait(driver).until(
        lambda d: not d.find_element(By.CSS_SELECTOR, "li.message.current input.select").is_selected()
    )
    driver.switch_to.active_element.send_keys("o")
    wait(driver).until(lambda d: d.find_element(By.ID, "reader").is_displayed())
    assert driver.find_element(By.ID, "reader-subject").text == subject
    driver.switch_to.active_element.send_keys("e")
    wait(driver).until(lambda d: d.find_element(By.ID, "list-view").is_displayed())
    wait(driver).until(lambda d: not any(subject in row.text for row in rows(d)))
    assert subject in subjects_in(web, "Archive")
    driver.switch_to.active_element.send_keys("?")
    wait(driver).until(lambda d: d.find_element(By.ID, "shortcuts").is_displayed())
    check_page(driver, request, "shortcuts")
    driver.find_element(By.CSS_SELECTOR, "#shortcuts button").click()


def test_phone_screen(signed_in: Any, request: pytest.FixtureRequest) -> None:
    driver = signed_in
    driver.set_window_size(390, 844)
    try:
        wait(driver).until(lambda d: len(rows(d)) >= 1)
        check_page(driver, request, "phone-list")
        first = rows(driver)[0].find_element(By.CSS_SELECTOR, ".subject").text.removeprefix("📎").strip()
        click_row(driver, first)
        wait(driver).until(lambda d: d.find_element(By.ID, "reader").is_displayed())
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, "the reading view is wider than the phone's screen"
        check_page(driver, request, "phone-reading")
    finally:
        driver.set_window_size(1280, 900)


def inbox_badge(driver: Any) -> int:
    inbox = "//a[contains(@class,'folder')][span[text()='INBOX']]"
    badge = driver.find_elements(By.XPATH, inbox + "/span[@class='unread']")
    return int(badge[0].text) if badge else 0


def unseen_in_inbox(web: WebEnv) -> list[str]:
    client = imap(web)
    try:
        client.select("INBOX", readonly=True)
        _, found = client.search(None, "UNSEEN")
        out = []
        for number in found[0].split():
            _, data = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            out.append(data[0][1].decode().split(":", 1)[1].strip())  # type: ignore[index,union-attr]
        return out
    finally:
        client.logout()


def test_push_lists_a_new_message_and_counts_it(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    back_to_inbox(driver)
    before = len(rows(driver))
    unread = inbox_badge(driver)
    assert unread == len(unseen_in_inbox(web))
    deliver(web, _plain("Pushed along", "Gina <gina@example.net>", "Arrives while you look.", 11))
    # No reload: the event source tells the page the account changed.
    row_named(driver, "Pushed along")
    assert len(rows(driver)) == before + 1
    wait(driver).until(lambda d: inbox_badge(d) == unread + 1)


def test_checked_messages_move_by_menu_delete_to_trash_then_for_good(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    back_to_inbox(driver)
    deliver(web, _plain("Spam one", "Spammer <s@example.net>", "Buy now.", 12))
    deliver(web, _plain("Spam two", "Spammer <s@example.net>", "Buy again.", 13))
    for subject in ("Spam one", "Spam two"):
        click_row(driver, subject, "input.select")

    def move_to_junk(d: Any) -> bool:  # again if push re-filled the menu under it
        menu = d.find_element(By.CSS_SELECTOR, '#list-tools select[data-action="move"]')
        Select(menu).select_by_visible_text("Junk")
        return True

    wait(driver).until(move_to_junk)
    wait(driver).until(lambda d: not any("Spam" in row.text for row in rows(d)))
    assert sorted(subjects_in(web, "Junk")) == ["Spam one", "Spam two"]

    click_folder(driver, "Junk")
    wait(driver).until(lambda d: len(rows(d)) == 2)
    click_row(driver, "Spam one")
    wait(driver).until(lambda d: d.find_element(By.ID, "reader").is_displayed())
    driver.switch_to.active_element.send_keys("#")  # Gmail's delete: to the bin
    wait(driver).until(lambda d: d.find_element(By.ID, "list-view").is_displayed())
    wait(driver).until(lambda d: len(rows(d)) == 1)
    assert subjects_in(web, "Trash") == ["Spam one"]

    click_folder(driver, "Trash")
    wait(driver).until(lambda d: len(rows(d)) == 1)
    click_row(driver, "Spam one", "input.select")
    driver.find_element(By.CSS_SELECTOR, '#list-tools button[data-action="delete"]').click()
    wait(driver).until(lambda d: len(rows(d)) == 0)
    assert subjects_in(web, "Trash") == []


def test_shift_u_marks_unread(signed_in: Any, web: WebEnv) -> None:
    driver = signed_in
    back_to_inbox(driver)
    click_row(driver, "Pushed along")
    wait(driver).until(lambda d: d.find_element(By.ID, "reader").is_displayed())
    wait(driver).until(lambda d: "Pushed along" not in unseen_in_inbox(web))
    driver.switch_to.active_element.send_keys("U")
    wait(driver).until(lambda d: d.find_element(By.ID, "list-view").is_displayed())
    wait(driver).until(lambda d: "unread" in row_named(d, "Pushed along").get_attribute("class"))
    assert "Pushed along" in unseen_in_inbox(web)


BOXES = [
    {"id": "F1", "name": "INBOX", "role": "inbox"},
    {"id": "F2", "name": "Receipts", "role": None},
    {"id": "F5", "name": "Trash", "role": "trash"},
    {"id": "F4", "name": "Junk", "role": "junk"},
]
ELSEWHERE = {"inMailboxOtherThan": ["F5", "F4"]}
SEARCHES = [
    ("from:erin", {"operator": "AND", "conditions": [{"from": "erin"}, ELSEWHERE]}),
    (
        'subject:"lunch plans" to:bob@example.net',
        {"operator": "AND", "conditions": [{"subject": "lunch plans"}, {"to": "bob@example.net"}, ELSEWHERE]},
    ),
    (
        "has:attachment is:unread is:starred",
        {
            "operator": "AND",
            "conditions": [
                {"hasAttachment": True},
                {"notKeyword": "$seen"},
                {"hasKeyword": "$flagged"},
                ELSEWHERE,
            ],
        },
    ),
    (
        "before:2026/12/31 after:2026-12-01 in:receipts",
        {
            "operator": "AND",
            "conditions": [
                {"before": "2026-12-31T00:00:00Z"},
                {"after": "2026-12-01T00:00:00Z"},
                {"inMailbox": "F2"},
            ],
        },
    ),
    ("in:trash pizza", {"operator": "AND", "conditions": [{"inMailbox": "F5"}, {"text": "pizza"}]}),
    (
        "pizza pineapple",
        {"operator": "AND", "conditions": [{"text": "pizza"}, {"text": "pineapple"}, ELSEWHERE]},
    ),
]


@pytest.mark.parametrize(("query", "wanted"), SEARCHES)
def test_search_operators_map_onto_email_query_filters(signed_in: Any, query: str, wanted: object) -> None:
    """search.js as the page loads it, run in the browser: each of Gmail's operators its filter."""
    got = signed_in.execute_async_script(
        "const [query, boxes, done] = arguments;"
        "import('/webmail/static/search.js').then((m) => done(m.searchFilter(query, boxes)));",
        query,
        BOXES,
    )
    assert got == {"filter": wanted}


def test_search_says_what_it_did_not_understand(signed_in: Any) -> None:
    for query, error in (("in:nowhere", "There is no folder named nowhere"), ("before:soon", "before:")):
        got = signed_in.execute_async_script(
            "const [query, boxes, done] = arguments;"
            "import('/webmail/static/search.js').then((m) => done(m.searchFilter(query, boxes)));",
            query,
            BOXES,
        )
        assert error in got["error"]


def test_a_conversation_lists_its_messages_in_the_reader(signed_in: Any, web: WebEnv, request: Any) -> None:
    driver = signed_in
    back_to_inbox(driver)
    reply = _plain("Re: Team lunch", "Frank <frank@example.net>", "Make it Friday instead.", 14).replace(
        "MIME-Version",
        "In-Reply-To: <" + hashlib.sha1(b"Team lunch").hexdigest() + "@example.net>\r\nMIME-Version",
    )
    deliver(web, reply)
    click_row(driver, "Re: Team lunch")
    conversation = wait(driver).until(lambda d: d.find_element(By.ID, "conversation"))
    wait(driver).until(lambda d: conversation.is_displayed())
    links = conversation.find_elements(By.TAG_NAME, "a")
    assert len(links) == 2
    assert "Pizza with pineapple" in links[0].text  # the first message, in the Archive
    assert links[1].get_attribute("aria-current") == "true"
    check_page(driver, request, "conversation")
    links[0].click()
    wait(driver).until(lambda d: "pineapple" in d.find_element(By.ID, "reader-body").text)
    back_to_inbox(driver)
