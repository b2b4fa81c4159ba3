"""Checks on decoded JSON values shared by the Mixpanel and Segment formats.

Property limits (ingestion-api.md, *Limits on properties*), made precise here:

- **Count**: at most ``max_properties`` (255) top-level properties, not counting
  ``token``, which identifies the sender and is never stored. (Mixpanel's own wording
  is "fewer than 255" including the token its SDKs always add: the same number.)
- **Depth**: a property whose value is an object or an array has depth 1; each
  object or array inside it adds one. Depth ``max_depth`` (3) is allowed, so
  ``{"a": {"b": {"c": [1]}}}`` passes and ``{"a": {"b": {"c": [[1]]}}}`` does not.
  Scalars add nothing.
- **Strings**: a value longer than ``max_string`` (255) characters (code points, not
  bytes) is truncated, at any depth; property names are kept whole, since cutting
  them could make two properties one. The event name is truncated like a value.
- **UTF-8**: a string (value or name, at any depth) holding a lone surrogate, which
  is how a ``\\ud800`` escape or a raw non-UTF-8 byte arrives, is refused.

Checks return a problem as data (:class:`Flaw`); they raise nothing on decoded JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

#: 1971-01-01T00:00:00Z: Mixpanel refuses event times before it.
MIN_TIME_MS = 365 * 86_400 * 1000
#: Epoch values at least this large are milliseconds; smaller ones are seconds.
#: (1e11 seconds is the year 5138; 1e11 milliseconds is March 1973.)
MS_THRESHOLD = 1e11

_has_surrogate = re.compile("[\ud800-\udfff]").search


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-request and per-event limits of the Mixpanel endpoints."""

    max_events: int = 2000  # records per request (/import, /track, /engage, /groups)
    max_body_bytes: int = 10 * 1024 * 1024  # uncompressed; enforced by the server
    max_properties: int = 255
    max_string: int = 255
    max_depth: int = 3
    track_max_age_ms: int = 5 * 86_400 * 1000  # older events belong on /import
    future_ms: int = 3600 * 1000
    min_time_ms: int = MIN_TIME_MS


DEFAULT_LIMITS = Limits()


class Flaw(NamedTuple):
    """What is wrong with one record: where, a short code, and plain words."""

    field: str
    reason: str
    message: str


def utf8_ok(text: str) -> bool:
    """True unless ``text`` holds a lone surrogate (which UTF-8 cannot encode)."""
    return text.isascii() or _has_surrogate(text) is None


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udcff`` escapes, safe to encode."""
    if utf8_ok(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def shown(value: Any, width: int = 40) -> str:
    """A short rendering of a bad value for an error message."""
    if isinstance(value, str):
        text = printable(json.dumps(value[:width], ensure_ascii=False))
        return text + "..." if len(value) > width else text
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= width else text[:width] + "..."
    if isinstance(value, dict):
        return "(an object)"
    if isinstance(value, list):
        return "(an array)"
    return f"(a {type(value).__name__})"


def kind_of(value: Any) -> str:
    """The JSON kind of ``value`` in words: "a string", "an array", ..."""
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def epoch_ms(value: Any) -> int | None:
    """An epoch time in seconds or milliseconds as integer milliseconds.

    None when ``value`` is not a finite number (a bool is not a number here).
    """
    kind = type(value)
    if kind is int:
        whole = int(value)
        return whole if whole >= MS_THRESHOLD else whole * 1000
    if kind is float and math.isfinite(value):
        number = float(value)
        # round, not truncate: 1575884617.393 s is 1575884617392.9998 in binary
        return round(number if number >= MS_THRESHOLD else number * 1000)
    return None


def coerce_id(value: Any) -> str | None:
    """An id as a string: strings as they are, integers written out; else None."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return None


_encode = msgspec.json.Encoder().encode


def clean_properties(props: dict[str, Any], limits: Limits) -> dict[str, Any] | Flaw:
    """The properties to store (without ``token``, long strings truncated), or the
    first limit they break. ``props`` itself is never modified."""
    count = len(props) - ("token" in props)
    if count > limits.max_properties:
        message = f"properties holds {count} properties; at most {limits.max_properties} allowed"
        return Flaw("properties", "too_many_properties", message)
    try:
        # UTF-8 validity of every name and string at any depth, checked in C: the
        # encoder refuses a lone surrogate. The walk below then has less to do.
        _encode(props)
    except UnicodeEncodeError:
        return _utf8_flaw(props, "properties")
    out: dict[str, Any]
    if _fits(props, 0, limits.max_depth, limits.max_string):
        out = dict(props)
    else:
        cleaned = _truncated(props, 0, limits.max_depth, limits.max_string)
        if type(cleaned) is _TooDeep:
            where = "properties" + cleaned.path
            message = f"{where} nests objects or arrays more than {limits.max_depth} deep"
            return Flaw(where, "too_deep", message)
        out = dict(props) if cleaned is props else cleaned
    out.pop("token", None)
    return out


def utf8_flaw(value: Any, field: str) -> Flaw | None:
    """The first string (or name) in ``value`` that is not valid UTF-8, as a Flaw."""
    try:
        _encode(value)
    except UnicodeEncodeError:
        return _utf8_flaw(value, field)
    return None


def _utf8_flaw(value: Any, field: str) -> Flaw:
    path, text = next(_bad_text(value, ""), ("", ""))
    where = field + path
    return Flaw(where, "invalid_utf8", f"{where} is not valid UTF-8: {shown(text)}")


def _bad_text(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) of each string, or name, in ``value`` that UTF-8 cannot encode."""
    if type(value) is str:
        if not utf8_ok(value):
            yield path, value
    elif type(value) is dict or type(value) is list:
        for key, item in value.items() if type(value) is dict else enumerate(value):
            step = path + _step(key)
            if type(key) is str and not utf8_ok(key):
                yield step, key
            yield from _bad_text(item, step)


def _fits(value: dict[str, Any] | list[Any], depth: int, max_depth: int, max_string: int) -> bool:
    """True when nothing in ``value`` is too deep or too long: the question asked of
    every property of every event, so it looks at values only and builds nothing."""
    if depth > max_depth:
        return False
    items: Iterable[Any] = value.values() if type(value) is dict else value
    for item in items:
        kind = type(item)
        if kind is str:
            if len(item) > max_string:
                return False
        elif (kind is dict or kind is list) and not _fits(item, depth + 1, max_depth, max_string):
            return False
    return True


class _TooDeep(NamedTuple):
    path: str  # to the first container past the limit, from the one walked


def _truncated(
    value: dict[str, Any] | list[Any], depth: int, max_depth: int, max_string: int
) -> Any:
    """``value`` with long strings truncated (copied only where something changed),
    or :class:`_TooDeep`. ``depth`` is the depth of ``value`` itself."""
    if depth > max_depth:
        return _TooDeep("")
    changed: Any = None
    for key, item in value.items() if type(value) is dict else enumerate(value):
        kind = type(item)
        if kind is str:
            if len(item) <= max_string:
                continue
            new: Any = item[:max_string]
        elif kind is dict or kind is list:
            new = _truncated(item, depth + 1, max_depth, max_string)
            if type(new) is _TooDeep:
                return _TooDeep(_step(key) + new.path)
            if new is item:
                continue
        else:
            continue
        if changed is None:
            changed = value.copy()
        changed[key] = new
    return value if changed is None else changed


def _step(key: str | int) -> str:
    return f"[{key}]" if type(key) is int else f".{printable(str(key))}"
