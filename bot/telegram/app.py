"""Wiring: the Application, its send limits and HTTP client, log redaction, and `run`.

Sends go through `AIORateLimiter` (Telegram's own send limits, honouring `RetryAfter`),
extended to retry a request the server failed (5xx), so a reply is not lost to one bad
gateway, and then over aiohttp (`bot.telegram.http`: PTB's default httpx client cost
the bot half its CPU under load).

The token is validated before any network call and never logged: every log record has
the token replaced (PTB's own InvalidToken message repeats it), and httpx, which logs
request URLs at INFO, is kept at WARNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn
from urllib.parse import urlsplit

from telegram import Bot, LinkPreviewOptions
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot.config import ConfigError, Settings
from bot.engine import Engine
from bot.telegram import admin, callbacks, handlers
from bot.telegram.delivery import (
    JOURNAL_NAME,
    JournaledQueue,
    TrackingProcessor,
    UpdateJournal,
    current_delivery,
)
from bot.telegram.http import AiohttpRequest
from bot.telegram.redaction import redact
from bot.telegram.state import CONTEXT_TYPES, TYPING_DELAY, BotState, UserRateLimit

__all__ = [
    "ALLOWED_UPDATES",
    "RetryingRateLimiter",
    "StartupError",
    "build_application",
    "quiet_http_logs",
    "run",
    "validate_token",
]

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
TELEGRAM_SEND_RATE = 30.0  # messages a second Telegram allows a bot across all chats
GROUP_SEND_RATE = 20  # messages a minute Telegram allows a bot in one group
SEND_RETRIES = 3  # retries after RetryAfter (429) or a server error (5xx)
# Connections to the Bot API for sends. Locally 4, 8, 16 and 64 all gave 340-420
# replies/s (bench/telegram_load.py, within the noise); 8 leaves room for the round
# trips of the real Bot API without holding many idle sockets.
CONNECTIONS = 8
POOL_WAIT = 30.0  # seconds a send may wait for a free connection before failing
SEND_TIMEOUT = 5.0  # seconds to wait for the Bot API's answer to a send
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
_REPLIES = ("send", "editMessage")  # endpoints whose success means the user got a reply
_READABLE = ("text", "caption")  # request fields a user reads (answerCallbackQuery: text)


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (Telegram's send limits, RetryAfter) that also retries server errors.

    A 5xx answer or a refused connection means the request was not carried out, so
    sending it again loses nothing and duplicates nothing. Timeouts are not retried:
    the message may have gone out. Bad requests are our mistake and are not retried.

    It also lets at most `in_flight` requests reach the HTTP client at once: a burst of
    replies then queues here, with no deadline, instead of in the client's connection
    pool, where a long wait would count against the pool timeout and fail the send.

    Every request passes here, so it is where the token is taken out of whatever text
    a user would read (`redaction.redact`, as for logs): a message quoting an error
    about a download, say, can never show it.
    """

    def __init__(
        self, *args: Any, in_flight: int = CONNECTIONS, token: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._slots = asyncio.Semaphore(in_flight)
        self._token = token

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Runs the request through the limiter, retrying after a server error."""
        for name in _READABLE:
            value = data.get(name)
            if isinstance(value, str):
                data[name] = redact(value, self._token)
        for attempt in range(SEND_RETRIES + 1):
            try:
                async with self._slots:
                    result = await super().process_request(
                        callback, args, kwargs, endpoint, data, rate_limit_args
                    )
                _note_reply(endpoint)
                return result
            except TimedOut:
                _note_reply(endpoint)  # it may well have been delivered
                raise
            except BadRequest:
                raise
            except NetworkError as exc:
                if attempt == SEND_RETRIES:
                    raise
                log.warning("%s failed (%s); retrying", endpoint, exc)
                await asyncio.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")


def _note_reply(endpoint: str) -> None:
    """Tells the update being handled (if any) that a reply went out for it."""
    delivery = current_delivery()
    if delivery is not None and endpoint.startswith(_REPLIES) and endpoint != "sendChatAction":
        delivery.sent = True


def quiet_http_logs(token: str | None = None) -> None:
    """Keeps the token out of logs.

    httpx (PTB's default client) logs every request URL, which holds the token, at
    INFO: its loggers are set to WARNING should anything use it; aiohttp logs no URLs.
    Given the token (by `run`, which owns the process), every log record made from then
    on also has it replaced, in its message and its traceback (PTB's InvalidToken
    repeats it), whichever handler ends up printing it.
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    factory = logging.getLogRecordFactory()
    if token and not (isinstance(factory, _RedactingFactory) and factory.token == token):
        logging.setLogRecordFactory(_RedactingFactory(factory, token))


class _RedactingFactory:
    """A log record factory that replaces the token in messages and tracebacks."""

    def __init__(self, inner: Callable[..., logging.LogRecord], token: str) -> None:
        self.inner = inner
        self.token = token

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: let logging report it
            return record
        redacted = redact(message, self.token)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, self.token)
        return record


def _file_url(api_url: str) -> str:
    """The file download base for an API base: ".../bot" -> ".../file/bot"."""
    head, sep, tail = api_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}" if sep else api_url


def validate_token(token: str | None) -> str:
    """Returns the token if it looks like one @BotFather issues, before any network call.

    Raises:
        ConfigError: The token is missing or malformed; the message says what to do and
            never repeats the token.
    """
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and run "
            "export TELEGRAM_BOT_TOKEN=<the token it gives you>"
        )
    if not TOKEN_PATTERN.fullmatch(token.strip()):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then 30 or "
            "more letters, digits, - or _): copy it again from @BotFather"
        )
    return token.strip()


def build_application(
    settings: Settings,
    engine: Engine,
    *,
    send_rate: float = TELEGRAM_SEND_RATE,
    typing_delay: float = TYPING_DELAY,
    send_timeout: float = SEND_TIMEOUT,
) -> Application:
    """Builds the bot: handlers, the shared state, limits. Makes no network call.

    Args:
        settings: Token, API URL, admins, rate limit, feedback path.
        engine: The answering core, shared by all handlers.
        send_rate: Messages a second across all chats (Telegram allows about 30);
            0 turns the limit off (for load tests against a local server).
        typing_delay: Seconds of retrieval before "typing…" is shown.
        send_timeout: Seconds to wait for the answer to a request (tests shorten it).

    Raises:
        ConfigError: The token is missing or malformed.
    """
    token = validate_token(settings.telegram_token)
    quiet_http_logs()
    # Updates are journaled next to the index until handled, and replayed on start
    # (`delivery`): a restart, even a kill, loses no question.
    queue = JournaledQueue(UpdateJournal(settings.index_dir / JOURNAL_NAME))
    application = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_url)
        .base_file_url(_file_url(settings.telegram_api_url))
        .rate_limiter(
            RetryingRateLimiter(
                overall_max_rate=send_rate,
                group_max_rate=GROUP_SEND_RATE if send_rate else 0,
                max_retries=SEND_RETRIES,
                token=token,
            )
        )
        .update_queue(queue)
        .concurrent_updates(TrackingProcessor(queue))
        .request(AiohttpRequest(CONNECTIONS, read_timeout=send_timeout, pool_timeout=POOL_WAIT))
        .get_updates_request(AiohttpRequest(1))
        .defaults(
            Defaults(
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                allow_sending_without_reply=True,
            )
        )
        .context_types(CONTEXT_TYPES)
        .post_init(handlers.post_init)
        .build()
    )
    queue.replay(application.bot)
    application.bot_data["state"] = BotState(
        engine,
        settings,
        UserRateLimit(settings.rate_limit_per_minute),
        typing_delay=typing_delay,
    )
    not_text = (
        filters.Sticker.ALL
        | filters.PHOTO
        | filters.VOICE
        | filters.AUDIO
        | filters.VIDEO
        | filters.VIDEO_NOTE
        | filters.ANIMATION
        | filters.LOCATION
        | filters.CONTACT
    )
    application.add_handlers(
        [
            CommandHandler("start", handlers.on_start),
            CommandHandler("help", handlers.on_help),
            CommandHandler("ask", handlers.on_ask),
            CommandHandler("sources", handlers.on_sources),
            CommandHandler("about", handlers.on_about),
            CommandHandler("whoami", handlers.on_whoami),
            CommandHandler("stats", admin.on_stats),
            CommandHandler("reload", admin.on_reload),
            MessageHandler(filters.COMMAND, handlers.on_unknown_command),
            MessageHandler(filters.TEXT, handlers.on_text),
            MessageHandler(filters.Document.ALL & filters.UpdateType.MESSAGE, admin.on_document),
            MessageHandler(not_text & filters.UpdateType.MESSAGE, handlers.on_not_text),
            # One handler per kind of button; the first whose pattern matches runs.
            CallbackQueryHandler(handlers.on_more, pattern=callbacks.MORE),
            CallbackQueryHandler(handlers.on_source, pattern=callbacks.SOURCE),
            CallbackQueryHandler(handlers.on_feedback, pattern=callbacks.FEEDBACK),
            CallbackQueryHandler(handlers.on_example, pattern=callbacks.EXAMPLE),
            CallbackQueryHandler(admin.on_upload_button, pattern=callbacks.UPLOAD),
            CallbackQueryHandler(handlers.on_stale_button),
        ]
    )
    application.add_error_handler(handlers.on_error)
    return application


def run(
    settings: Settings,
    *,
    webhook_url: str | None = None,
    listen: str = "127.0.0.1",
    port: int = 8443,
    secret_token: str | None = None,
    send_rate: float | None = None,
) -> int:
    """Runs the bot until SIGINT or SIGTERM; returns the exit status (0 on a clean stop).

    Args:
        settings: The configuration (token, API URL, admins, corpus and index).
        webhook_url: Public HTTPS URL Telegram should post updates to; polling when None.
        listen: Address the webhook server binds (behind a reverse proxy: 127.0.0.1).
        port: Port of the webhook server.
        secret_token: Webhook secret Telegram sends back in a header; a random one is
            made when None, so the webhook only accepts Telegram's requests.
        send_rate: Messages a second across chats; None for the setting
            `telegram_send_rate` if there is one, else Telegram's 30.

    Start-up either prints one line, "Bot @name is running (polling); Ctrl-C to
    stop", on stderr, or fails with one `StartupError` saying what to check: a token the
    API refuses, an API that cannot be reached, a webhook port in use.

    Raises:
        ConfigError: The token is missing or malformed (before any network call).
        StartupError: The Bot API refused the token or could not be reached, or the
            webhook server cannot listen.
    """
    token = validate_token(settings.telegram_token)
    quiet_http_logs(token)
    library_log = logging.getLogger("telegram")
    if not logging.getLogger().handlers and not library_log.handlers:
        # The library's warnings (e.g. network trouble while polling) get a level prefix
        # like ours instead of logging's bare last-resort output.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
        library_log.addHandler(handler)
    if threading.current_thread() is threading.main_thread():
        # Until the Application installs its own handlers, SIGTERM (e.g. during an index
        # build) must still end the process cleanly.
        signal.signal(signal.SIGTERM, _exit_cleanly)
    # Everything that can be checked is checked before the index is loaded or built
    # (minutes on a large corpus): the webhook port, then the token with the Bot API.
    if webhook_url:
        _check_port_free(listen, port)
    username = _check_token(settings.telegram_api_url, token)
    engine = Engine.open(settings, say=lambda line: print(line, file=sys.stderr))
    engine.warm_up()  # a large index's first question must not wait for the compiler
    if send_rate is None:
        send_rate = settings.telegram_send_rate
    application = build_application(settings, engine, send_rate=send_rate)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # run_polling runs in it, finding the bot initialised
    try:
        _connect(application.bot, settings.telegram_api_url, token, loop)
    except StartupError:
        loop.close()
        asyncio.set_event_loop(None)
        raise
    mode = f"webhook at {webhook_url}, listening on {listen}:{port}" if webhook_url else "polling"
    print(f"Bot @{username} is running ({mode}); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        if webhook_url:
            application.run_webhook(
                listen=listen,
                port=port,
                url_path=urlsplit(webhook_url).path.lstrip("/"),
                webhook_url=webhook_url,
                secret_token=secret_token or secrets.token_urlsafe(32),
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except OSError as exc:  # the webhook port was taken between the check and the start
        raise StartupError(_port_problem(listen, port, exc)) from None
    return 0


class StartupError(ConfigError):
    """The bot could not start; the message says what to check."""


def _check_token(api_url: str, token: str) -> str:
    """Asks the Bot API who the token belongs to (getMe); returns the bot's username.

    A bot of its own, closed at once: the Application is not built yet, since that
    needs the loaded index.

    Raises:
        StartupError: The API refused the token or could not be reached.
    """
    probe = Bot(
        token,
        base_url=api_url,
        request=AiohttpRequest(1),
        get_updates_request=AiohttpRequest(1),
    )
    loop = asyncio.new_event_loop()
    try:
        username = _connect(probe, api_url, token, loop)
        loop.run_until_complete(probe.shutdown())
        return username
    finally:
        loop.close()


def _connect(bot: Bot, api_url: str, token: str, loop: asyncio.AbstractEventLoop) -> str:
    """Initialises `bot` in `loop` (getMe) and returns its username.

    `run_polling` would initialise the bot itself, but on failure it logs two
    tracebacks through its retry loop and leaves its HTTP sessions open ("Unclosed
    client session"): an Application that failed to initialise skips its shutdown.
    Here a failure closes the bot's sessions and raises one clear error; on success the
    bot stays initialised for the Application running in the same loop.

    Raises:
        StartupError: The API refused the token or could not be reached.
    """
    where = urlsplit(api_url).netloc or api_url
    try:
        with _without_retry_warnings():
            loop.run_until_complete(bot.initialize())
        return bot.username
    except InvalidToken as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, InvalidToken) else exc
        answer = cause.message.replace(token, "<token>")
        check = (
            "check TELEGRAM_API_URL (a Bot API server's address, ending in /bot) and "
            "TELEGRAM_BOT_TOKEN"
            if "not found" in answer.casefold()
            else "check TELEGRAM_BOT_TOKEN (copy it again from @BotFather)"
        )
        problem = f"the Bot API refused the token ({where} answered “{answer}”): {check}"
    except NetworkError as exc:  # TimedOut included
        reason = exc.message.replace(token, "<token>")
        problem = (
            f"cannot reach the Bot API at {where} ({reason}): check TELEGRAM_API_URL and "
            "the network connection"
        )
    except TelegramError as exc:
        problem = (
            f"the Bot API at {where} answered getMe with an error "
            f"({exc.message.replace(token, '<token>')}): check TELEGRAM_API_URL"
        )
    loop.run_until_complete(bot.shutdown())
    raise StartupError(problem)


@contextlib.contextmanager
def _without_retry_warnings() -> Iterator[None]:
    """Drops this module's "retrying" warnings: at start-up one error line says it all."""

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING

    log.addFilter(keep)
    try:
        yield
    finally:
        log.removeFilter(keep)


def _check_port_free(listen: str, port: int) -> None:
    """Fails early, with the fix, when the webhook server could not listen.

    Raises:
        StartupError: The address cannot be bound (in use, not ours, not allowed).
    """
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the webhook server (tornado) does, so a port in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((listen, port))
        except OSError as exc:
            raise StartupError(_port_problem(listen, port, exc)) from None


def _port_problem(listen: str, port: int, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        check = "choose another --port, or stop the program that uses it"
    elif exc.errno == errno.EACCES:
        check = "choose a --port above 1023, or run the bot behind a reverse proxy"
    else:
        check = "check --listen (an address of this machine, e.g. 127.0.0.1)"
    return f"the webhook server cannot listen on {listen}:{port} ({reason}): {check}"


def _exit_cleanly(signum: int, frame: object) -> NoReturn:
    raise SystemExit(0)
