"""The fake Bot API is strict like Telegram, so the bot's tests mean something.

These tests talk to `tests.fake_telegram.FakeTelegram` over HTTP directly, without the
bot: it must refuse what Telegram refuses (bad HTML, long texts, bad tokens, unknown
methods, buttons and chats), honour long polling, and read every body encoding.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fake_telegram import ApiError, FakeTelegram, parse_html

USER = 1001
WAIT = 10.0


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def _post(
    fake: FakeTelegram, method: str, token: str | None = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    body = urllib.parse.urlencode(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    ).encode()
    request = urllib.request.Request(
        f"{fake.api_url}{token or fake.token}/{method}",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("x" * 4097, "message is too long"),
        ("<b>bold</i>", "Unmatched end tag"),
        ("<b>open", "Can't find end tag"),
        ("<script>alert(1)</script>", 'Unsupported start tag "script"'),
        ("1 < 2", "Unclosed start tag"),
        ("Q&A", "Character '&'"),
        ("&nbsp;", "Unsupported HTML entity"),
        ("   ", "message text is empty"),
    ],
)
def test_fake_rejects_what_telegram_rejects(fake: FakeTelegram, text: str, error: str) -> None:
    fake.push_text(USER, "hi")
    status, body = _post(fake, "sendMessage", chat_id=USER, text=text, parse_mode="HTML")
    assert status == 400 and body["ok"] is False and body["error_code"] == 400
    assert error in body["description"]


def test_fake_accepts_telegram_html(fake: FakeTelegram) -> None:
    fake.push_text(USER, "hi")
    text = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        '<strike>k</strike><del>d</del><span class="tg-spoiler">p</span>'
        '<tg-spoiler>t</tg-spoiler><a href="https://e.org/?a=1&amp;b=2">a</a>'
        '<code>c</code><pre><code class="language-python">x</code></pre>'
        "<blockquote>q</blockquote> &lt;&gt;&amp;&quot;&#65;&#x42;" + "y" * 4000
    )
    status, body = _post(fake, "sendMessage", chat_id=USER, text=text, parse_mode="HTML")
    assert status == 200, body
    assert body["result"]["text"].startswith('bsieunskdptacxq <>&"AB')


def test_fake_checks_tokens_methods_buttons_and_chats(fake: FakeTelegram) -> None:
    assert _post(fake, "getMe", token="1:" + "x" * 35) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert _post(fake, "sendTelepathy")[0] == 404
    assert (
        _post(fake, "sendMessage", chat_id=77, text="hi")[1]["description"]
        == "Bad Request: chat not found"
    )
    fake.push_text(USER, "hi")
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]}
    status, body = _post(fake, "sendMessage", chat_id=USER, text="hi", reply_markup=markup)
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")
    fake.fail_next("getMe", times=1, status=429, retry_after=3)
    assert _post(fake, "getMe")[1]["parameters"] == {"retry_after": 3}
    fake.fail_next("getMe", times=1, status=500)
    assert _post(fake, "getMe")[0] == 500
    assert _post(fake, "getMe")[0] == 200


def test_fake_long_poll_honours_offset_and_timeout(fake: FakeTelegram) -> None:
    assert _post(fake, "getUpdates", timeout=0) == (200, {"ok": True, "result": []})
    first = fake.push_text(USER, "one")
    fake.push_text(USER, "two")
    status, body = _post(fake, "getUpdates", timeout=5)
    ids = [u["update_id"] for u in body["result"]]
    assert [u["message"]["text"] for u in body["result"]] == ["one", "two"]
    assert first["text"] == "one"
    _, body = _post(fake, "getUpdates", offset=ids[1], timeout=0)
    assert [u["update_id"] for u in body["result"]] == [ids[1]]  # older ones confirmed

    result: list[Any] = []
    poller = threading.Thread(
        target=lambda: result.append(_post(fake, "getUpdates", offset=ids[1] + 1, timeout=30))
    )
    poller.start()
    fake.wait_for(lambda f: f.waiting_polls == 1, WAIT)
    fake.push_text(USER, "three")  # wakes the long poll at once, not after 30 s
    poller.join(WAIT)
    assert not poller.is_alive()
    assert [u["message"]["text"] for u in result[0][1]["result"]] == ["three"]


def test_parse_html_counts_entities_as_one_character() -> None:
    plain, entities = parse_html("<b>a&amp;b</b>")
    assert plain == "a&b" and entities == [{"type": "bold", "offset": 0, "length": 3}]
    with pytest.raises(ApiError):
        parse_html("<code><b>x</b></code>")


def test_fake_reads_json_and_multipart_bodies(fake: FakeTelegram) -> None:
    fake.push_text(USER, "hi")
    url = f"{fake.api_url}{fake.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "ok", "callback_data": "x"}]]}
    as_json = httpx.post(url, json={"chat_id": USER, "text": "json", "reply_markup": markup})
    assert as_json.status_code == 200 and as_json.json()["result"]["reply_markup"] == markup
    multipart = httpx.post(
        url,
        data={"chat_id": str(USER), "text": "multi", "reply_markup": json.dumps(markup)},
        files={"unused": ("a.txt", b"bytes")},
    )
    assert multipart.status_code == 200, multipart.text
    assert fake.calls("sendMessage")[-1].params["unused"] == {"filename": "a.txt", "size": 5}
