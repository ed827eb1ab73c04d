"""The bot's aiohttp transport, driven through python-telegram-bot's own Bot class.

The end-to-end tests in test_telegram.py already run every scenario over this
transport; these pin down what they cannot easily reach: files sent as multipart,
error codes passed through, a refused connection and a silent server.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Iterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram.http import AiohttpRequest
from tests.fake_telegram import FakeTelegram

USER = 4242


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def _bot(api_url: str, token: str, **request: float) -> Bot:
    return Bot(token, base_url=api_url, request=AiohttpRequest(2, **request))


def test_sends_form_fields_and_reads_answers(fake: FakeTelegram) -> None:
    fake.push_text(USER, "hi")  # the fake only talks to chats it knows
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])

    async def talk() -> tuple[str, int]:
        async with _bot(fake.api_url, fake.token) as bot:
            sent = await bot.send_message(USER, "<b>a &amp; b</b>", "HTML", reply_markup=markup)
            return bot.username, sent.message_id

    username, message_id = asyncio.run(talk())
    assert username == fake.bot_username
    [call] = fake.calls("sendMessage")
    assert call.params["text"] == "<b>a &amp; b</b>"
    assert call.params["reply_markup"] == markup.to_dict()
    assert call.result["message_id"] == message_id
    assert call.result["text"] == "a & b"


def test_files_go_as_multipart(fake: FakeTelegram) -> None:
    fake.push_text(USER, "hi")
    parameters = [
        RequestParameter.from_input("chat_id", USER),
        RequestParameter.from_input("text", "with a file"),
        RequestParameter.from_input("extra", InputFile(io.BytesIO(b"12345"), filename="a.txt")),
    ]

    async def send() -> None:
        request = AiohttpRequest()
        await request.initialize()
        try:
            await request.post(f"{fake.api_url}{fake.token}/sendMessage", RequestData(parameters))
        finally:
            await request.shutdown()

    asyncio.run(send())
    [call] = fake.calls("sendMessage")
    assert call.params["text"] == "with a file"
    assert call.params["extra"] == {"filename": "a.txt", "size": 5}


def test_error_codes_reach_the_library(fake: FakeTelegram) -> None:
    fake.push_text(USER, "hi")

    async def bad() -> None:
        async with _bot(fake.api_url, fake.token) as bot:
            await bot.send_message(USER, "x" * 5000)  # over Telegram's 4096

    with pytest.raises(BadRequest, match="too long"):
        asyncio.run(bad())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_is_a_network_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/bot"

    async def call() -> None:
        async with _bot(url, "123:" + "a" * 35) as bot:
            await bot.get_me()

    with pytest.raises(NetworkError, match="aiohttp"):
        asyncio.run(call())


def test_silent_server_is_a_timeout() -> None:
    async def call() -> None:
        accepted: list[asyncio.StreamWriter] = []

        async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)  # reads nothing, answers nothing

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            bot = _bot(f"http://127.0.0.1:{port}/bot", "123:" + "a" * 35, read_timeout=0.3)
            async with bot:
                pass
        finally:
            for writer in accepted:
                writer.close()
            server.close()

    with pytest.raises(TimedOut):
        asyncio.run(call())
