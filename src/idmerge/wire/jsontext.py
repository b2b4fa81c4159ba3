"""Parsing JSON text: msgspec when the text is clean, the standard library when not.

msgspec is several times faster than :mod:`json`, so every body goes through it
first. It refuses two things the wire rules want to see record by record rather than
as a broken body: a lone surrogate escape such as ``"\\ud800"`` and raw bytes that
are not UTF-8. The slow path therefore decodes the bytes with ``surrogateescape``
(each bad byte becomes a lone surrogate) and parses with :mod:`json`, which accepts
lone surrogates; the record checks then refuse any string holding one as
``invalid_utf8``. Only text that is not JSON at all raises :class:`InvalidJSON`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_TRAILING = "more text follows the first value"
_TOO_DEEP = "arrays and objects are nested too deeply to parse"


class InvalidJSON(ValueError):
    """The text is not JSON: ``problem`` says what, ``line`` and ``column`` where."""

    def __init__(
        self, problem: str, line: int = 0, column: int = 0, *, trailing: bool = False
    ) -> None:
        self.problem = problem
        self.line = line  # 1-based; 0 when the parser gave no position
        self.column = column
        #: a complete value was followed by more text: the body may be NDJSON
        self.trailing = trailing
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        if not self.line:
            return self.problem
        return f"{self.problem} at line {self.line} column {self.column}"


def loads(data: bytes | str) -> Any:
    """The one JSON value in ``data``, or :class:`InvalidJSON`."""
    try:
        return _decode(data)
    except msgspec.DecodeError as error:
        if "trailing characters" in str(error):
            raise InvalidJSON(_TRAILING, trailing=True) from None
    except UnicodeDecodeError:
        pass
    except RecursionError:
        raise InvalidJSON(_TOO_DEEP) from None
    return _loads_leniently(data)


def _loads_leniently(data: bytes | str) -> Any:
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        trailing = error.msg == "Extra data"
        # json says "Unterminated string starting at" and then gives the position
        problem = _TRAILING if trailing else error.msg.removesuffix(" at")
        raise InvalidJSON(problem, error.lineno, error.colno, trailing=trailing) from None
    except _NotJSON as error:
        raise InvalidJSON(str(error)) from None
    except RecursionError:
        raise InvalidJSON(_TOO_DEEP) from None


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> Any:
    # json accepts NaN and Infinity, which are not JSON and which no store can hold
    raise _NotJSON(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJSON(f"the number {text[:40]} is out of range")
    return value
