"""Keeping the bot token out of everything people read: logs and replies alike.

The token is part of every Bot API URL, so an error about a request can carry it: an
aiohttp redirect error names the URL, and PTB quotes the body of a non-JSON error
page, which a proxy may fill with the request path. `redact` is the one function that
removes it; the log record factory (`bot.telegram.app`) and every text the bot sends
(`RetryingRateLimiter`) go through it.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["PLACEHOLDER", "redact"]

PLACEHOLDER = "<token>"


def redact(text: str, token: str) -> str:
    """`text` with the token, its secret half and their URL-encoded forms replaced.

    The secret half (after the colon) alone is enough to use the bot, and a URL may
    carry the colon percent-encoded, so every form is removed, not just the whole token.
    """
    if not token:
        return text
    secret = token.partition(":")[2] or token
    for form in (token, quote(token, safe=""), secret, quote(secret, safe="")):
        if form and form in text:
            text = text.replace(form, PLACEHOLDER)
    return text
