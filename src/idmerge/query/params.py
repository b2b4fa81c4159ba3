"""Typed reading of query parameters, with errors that name the parameter.

Mixpanel's clients send parameters in the query string, in form bodies and in JSON
bodies (where some values, like ``output_properties``, arrive as JSON-encoded
strings), so every reader here takes the merged ``name -> value`` mapping and
accepts a value either as text or already decoded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal, overload

import msgspec

from idmerge.errors import BadRequest

Params = Mapping[str, Any]
DAY_MS = 86_400_000
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@overload
def text(params: Params, name: str, *, required: Literal[True]) -> str: ...
@overload
def text(params: Params, name: str, *, required: bool = False) -> str | None: ...
def text(params: Params, name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name} is required")
        return None
    if isinstance(value, (dict, list)):
        raise BadRequest(f"{name} must be text, not a JSON {type(value).__name__}")
    return str(value)


def day(params: Params, name: str) -> dt.date:
    """A required ``YYYY-MM-DD`` day."""
    raw = text(params, name, required=True)
    try:
        if not _DAY.fullmatch(raw):  # fromisoformat also takes "2024-W18-3"
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a day as YYYY-MM-DD, not {raw[:40]!r}") from None


def day_range(params: Params) -> tuple[dt.date, dt.date]:
    """``from_date`` and ``to_date``, inclusive UTC days, in order."""
    start, end = day(params, "from_date"), day(params, "to_date")
    if end < start:
        raise BadRequest(f"to_date ({end}) is before from_date ({start})")
    return start, end


def day_start_ms(day_: dt.date) -> int:
    """Midnight UTC of ``day_``, in ms since the epoch."""
    return (day_ - dt.date(1970, 1, 1)).days * DAY_MS


def day_of(time_ms: int) -> dt.date:
    """The UTC day ``time_ms`` (ms since the epoch) falls on."""
    return dt.date(1970, 1, 1) + dt.timedelta(days=time_ms // DAY_MS)


@overload
def integer(params: Params, name: str, default: int, low: int, high: int) -> int: ...
@overload
def integer(params: Params, name: str, default: None, low: int, high: int) -> int | None: ...
def integer(params: Params, name: str, default: int | None, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequest(f"{name} must be a whole number, not {value!r:.40}")
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {number}")
    return number


def boolean(params: Params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("1", "true", "yes"):
        return True
    if word in ("0", "false", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, not {str(value)[:40]!r}")


def string_list(params: Params, name: str) -> list[str] | None:
    """A list of strings sent as a JSON array (as text, or already decoded); a bare
    string that is not JSON counts as a list of one, as Mixpanel reads ``event=Name``."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = msgspec.json.decode(stripped)
            except msgspec.DecodeError as exc:
                raise BadRequest(f"{name} is not a valid JSON array: {exc}") from None
        else:
            return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a JSON array of strings")
    return list(value)


def choice(params: Params, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = text(params, name) or default
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value
