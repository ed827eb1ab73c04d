"""The bot's HTTP client for the Bot API: python-telegram-bot's request interface on aiohttp.

python-telegram-bot ships an httpx client. Under load (bench/telegram_load.py) httpx
and httpcore took most of the bot's CPU: every request walks several layers of Python
(client, transport, connection pool, h11), and the pool re-examines each connection
on every request. aiohttp parses HTTP in C and keeps its pool in a dict of deques, so
the same sendMessage costs a fraction of the CPU, and the bot answers about twice as
many questions a second on the same core. Only the transport changes: PTB still builds
every request and reads every response, so its error handling and retries are intact.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """`BaseRequest` over one aiohttp session with a bounded connection pool.

    Timeouts keep PTB's meaning: `connect` for opening a connection, `read` for the
    answer (PTB lengthens it for long polling), `pool` for waiting for a free
    connection. aiohttp has no write timeout; a stalled write ends at the read timeout.

    Args:
        connection_pool_size: Connections kept open to the Bot API at most.
        read_timeout: Default seconds to wait for an answer.
        connect_timeout: Default seconds to open a connection.
        pool_timeout: Default seconds to wait for a free connection.
    """

    def __init__(
        self,
        connection_pool_size: int = 1,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds the long-polling timeout to it)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Opens the session (inside the running event loop, as aiohttp requires)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        """Closes the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Sends one request; returns the status code and the body.

        Raises:
            TimedOut: No connection, or no answer, within the timeouts.
            NetworkError: The connection failed or broke.
        """
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` covers waiting for a pooled connection and opening one.
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method,
                url,
                data=_body(request_data),
                headers={"User-Agent": self.USER_AGENT},
                timeout=timeout,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # asyncio's is the builtin since 3.11
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """The timeout a call asked for, or the default when it left it unset."""
    return default if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> Any:
    """Form fields (JSON-encoded values, as the Bot API expects), or multipart with files."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters or None
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in (request_data.multipart_data or {}).items():
        filename, content, mime_type = part
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
