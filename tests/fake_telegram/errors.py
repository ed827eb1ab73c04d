"""Errors of the fake Bot API, in the one shape Telegram answers them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: raised inside a method, turned into Telegram's error JSON."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """Telegram's error body: `{"ok": false, "error_code": ..., "description": ...}`."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def required(params: dict[str, Any], name: str) -> Any:
    """A parameter the method cannot do without (Telegram: "<name> is empty")."""
    if params.get(name) in (None, ""):
        raise bad_request(f"{name} is empty")
    return params[name]
