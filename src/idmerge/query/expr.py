"""Mixpanel's ``where`` / ``on`` expression language: from text to syntax tree.

The grammar is the subset proposed in ``reference/mixpanel_query.md`` §5.2. Mixpanel
documents no precedence, so these levels (loosest first) are a decision that every
published example parses under; binary operators associate to the left::

    or  <  and  <  not  <  == != > >= < <= in  <  + -  <  * / %  <  unary -  <  primary

A comparison does not chain (``a == b == c`` is refused, not guessed at), and
``not "x" in p`` reads ``not ("x" in p)``. Keywords are lowercase; a function name
may be followed by spaces before its ``(`` (``defined (x)`` occurs in the wild).
Strings take double or single quotes and JSON's escapes.

The parser only builds the tree (``syntax.py``); ``compile.py`` gives it meaning as
DuckDB SQL. Input comes from
HTTP callers, so it is bounded: at most :data:`MAX_LENGTH` characters and
:data:`MAX_DEPTH` levels of nesting, which keeps every recursive walk of the tree far
from Python's recursion limit. Every refusal is an :class:`ExpressionError` (HTTP
400) that names what was expected and points a caret at the place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar, get_args

from idmerge.errors import BadRequest
from idmerge.query.syntax import (
    Binary,
    Call,
    Const,
    ConstList,
    DateTimeConst,
    Expr,
    Function,
    Logical,
    Negate,
    Node,
    Not,
    Ref,
    Scalar,
    Source,
    as_binary_op,
    as_function,
    as_source,
)

MAX_LENGTH = 10_000  # characters of expression text
MAX_DEPTH = 64  # levels of nesting: parentheses, calls, not, unary minus, operators

SOURCES: frozenset[str] = frozenset(get_args(Source))
FUNCTIONS: frozenset[str] = frozenset(get_args(Function))
_CONSTANTS: dict[str, Scalar] = {"true": True, "false": False, "null": None}
_KEYWORDS = SOURCES | FUNCTIONS | _CONSTANTS.keys() | {"and", "or", "not", "in", "datetime"}
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<", "in")


class ExpressionError(BadRequest):
    """A ``where`` or ``on`` expression that cannot be parsed or compiled."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position

    @classmethod
    def at(cls, label: str, text: str, pos: int, what: str) -> ExpressionError:
        """An error whose message quotes the line of ``text`` holding ``pos``, with a
        caret under it, so the caller sees the place without counting characters."""
        line, col = _excerpt(text, pos)
        caret = " " * col + "^"
        return cls(f"{label}: {what} at position {pos}:\n  {line}\n  {caret}", pos)


def _excerpt(text: str, pos: int, width: int = 40) -> tuple[str, int]:
    """The line around ``pos`` (cut to ``width`` characters each side) and the caret's
    column in it; control characters show as spaces so the caret stays aligned."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : len(text) if end < 0 else end]
    col = pos - start
    if col > width:
        line, col = "..." + line[col - width :], width + 3
    if len(line) > col + width:
        line = line[: col + width] + "..."
    return "".join(" " if ch < " " or ch == "\x7f" else ch for ch in line), col


# --- tokens ------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: Literal["string", "number", "name", "op", "end"]
    text: str  # as written (for names and operators, what the parser matches)
    pos: int
    value: Scalar = None  # the decoded string or number


_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_OPERATORS = ("==", "!=", ">=", "<=", ">", "<", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n"}
_ESCAPES |= {"r": "\r", "t": "\t"}


def tokenize(text: str, label: str = "where") -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token at ``len(text)``."""
    tokens: list[Token] = []
    pos = 0
    while True:
        if space := _SPACE.match(text, pos):
            pos = space.end()
        if pos == len(text):
            tokens.append(Token("end", "", pos))
            return tokens
        ch = text[pos]
        if ch in "\"'":
            value, end = _read_string(text, pos, label)
            tokens.append(Token("string", text[pos:end], pos, value))
        elif number := _NUMBER.match(text, pos):
            end = number.end()
            parsed = float(number.group())
            if math.isinf(parsed):
                raise ExpressionError.at(label, text, pos, "expected a finite number")
            tokens.append(Token("number", number.group(), pos, parsed))
        elif name := _NAME.match(text, pos):
            end = name.end()
            tokens.append(Token("name", name.group(), pos))
        elif op := next((o for o in _OPERATORS if text.startswith(o, pos)), None):
            end = pos + len(op)
            tokens.append(Token("op", op, pos))
        else:
            raise ExpressionError.at(label, text, pos, _stray(text, pos))
        pos = end


def _stray(text: str, pos: int) -> str:
    if text.startswith("=", pos):
        return 'expected "==" (a single "=" is not an operator)'
    if text.startswith("!", pos):
        return 'expected "!=" (use "not" to negate)'
    return f"unexpected character {text[pos]!r}"


def _read_string(text: str, start: int, label: str) -> tuple[str, int]:
    """Decode the string literal opening at ``start``; return it and the end offset."""
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        ch = text[pos]
        if ch == quote:
            return "".join(out), pos + 1
        if ch != "\\":
            out.append(ch)
            pos += 1
            continue
        code = text[pos + 1 : pos + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            pos += 2
        elif code == "u":
            char, pos = _read_unicode_escape(text, pos, label)
            out.append(char)
        else:
            what = "expected an escape (\\\" \\' \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)"
            raise ExpressionError.at(label, text, pos, what)
    what = f"expected a closing {quote} for the string that starts here"
    raise ExpressionError.at(label, text, start, what)


def _hex4(text: str, pos: int) -> int | None:
    digits = text[pos : pos + 4]
    return int(digits, 16) if re.fullmatch(r"[0-9A-Fa-f]{4}", digits) else None


def _read_unicode_escape(text: str, pos: int, label: str) -> tuple[str, int]:
    """``\\uXXXX`` at ``pos``, joining a surrogate pair; a lone surrogate is refused
    because it cannot be UTF-8 and so could never equal a stored value."""
    code = _hex4(text, pos + 2)
    if code is None:
        raise ExpressionError.at(label, text, pos, "expected four hex digits after \\u")
    if 0xD800 <= code < 0xDC00 and text.startswith("\\u", pos + 6):
        low = _hex4(text, pos + 8)
        if low is not None and 0xDC00 <= low < 0xE000:
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), pos + 12
    if 0xD800 <= code < 0xE000:
        what = "expected a complete surrogate pair (a lone \\uD800-\\uDFFF is not text)"
        raise ExpressionError.at(label, text, pos, what)
    return chr(code), pos + 6


# --- datetimes ---------------------------------------------------------------------

#: The ISO-8601 forms read as datetimes, here and in SQL (``typed_sql.iso_ms_sql``): a
#: date, optionally a time with optional fraction, and then optionally a zone.
ISO_DATETIME = (
    r"\d{4}-\d\d-\d\d"
    r"(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d(?::?\d\d)?)?)?"
)
_ISO = re.compile(ISO_DATETIME)


def iso_ms(text: str) -> int | None:
    """Milliseconds since the epoch named by an ISO-8601 string, read as UTC unless it
    carries a zone; ``None`` for anything else. Mixpanel sends datetimes as
    ``YYYY-MM-DDTHH:MM:SS`` in UTC (its *Data Type* docs)."""
    if not _ISO.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: datetime(n) takes seconds within Python's datetime range, years 1 to 9999.
_MIN_SECONDS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()
_MAX_SECONDS = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds()


# --- the parser --------------------------------------------------------------------


def parse(text: str, label: str = "where") -> Expr:
    """The syntax tree of ``text``; ``label`` names the parameter in error messages."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"{label}: the expression is {len(text)} characters long; the limit is {MAX_LENGTH}"
        )
    return _Parser(text, label).parse()


class _Parser:
    """Recursive descent, one method per grammar rule of §5.2."""

    def __init__(self, text: str, label: str) -> None:
        self.text = text
        self.label = label
        self.tokens = tokenize(text, label)
        self.index = 0
        self.depth = 0

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise self.error(self.peek().pos, "expected an expression")
        tree = self.or_expr()
        token = self.peek()
        if token.kind != "end":
            raise self.error(token.pos, self.leftover(token))
        return tree

    # helpers

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind in ("op", "name") and token.text in texts

    def expect(self, text: str, context: str) -> Token:
        if not self.at(text):
            token = self.peek()
            raise self.error(token.pos, f'expected "{text}" {context}, found {describe(token)}')
        return self.advance()

    def error(self, pos: int, what: str) -> ExpressionError:
        return ExpressionError.at(self.label, self.text, pos, what)

    def checked(self, node: _N) -> _N:
        if node.height > MAX_DEPTH:
            raise self.error(node.pos, f"the expression nests more than {MAX_DEPTH} levels deep")
        return node

    def nest(self, pos: int) -> None:
        """Count one level of recursion; call :meth:`unnest` when it returns."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(pos, f"the expression nests more than {MAX_DEPTH} levels deep")

    def unnest(self) -> None:
        self.depth -= 1

    def leftover(self, token: Token) -> str:
        found = describe(token)
        if token.text == "not":
            return 'expected an operator, found "not" (write "not" before the whole test)'
        if token.text in _COMPARISONS:
            return f'comparisons do not chain, found {found}: use parentheses or "and"'
        return f"expected an operator or the end of the expression, found {found}"

    # grammar rules, loosest first

    def or_expr(self) -> Expr:
        return self.logical("or", self.and_expr)

    def and_expr(self) -> Expr:
        return self.logical("and", self.not_expr)

    def logical(self, op: Literal["and", "or"], operand: _Rule) -> Expr:
        first = operand()
        operands = [first]
        while self.at(op):
            self.advance()
            operands.append(operand())
        if len(operands) == 1:
            return first
        return self.checked(Logical(op=op, operands=tuple(operands), pos=first.pos))

    def not_expr(self) -> Expr:
        if not self.at("not"):
            return self.cmp_expr()
        pos = self.advance().pos
        self.nest(pos)
        try:
            operand = self.not_expr()
        finally:
            self.unnest()
        return self.checked(Not(operand=operand, pos=pos))

    def cmp_expr(self) -> Expr:
        left = self.add_expr()
        if not self.at(*_COMPARISONS):
            return left
        op = self.advance()
        right = self.add_expr()
        return self.checked(Binary(op=as_binary_op(op.text), left=left, right=right, pos=op.pos))

    def add_expr(self) -> Expr:
        return self.chain(("+", "-"), self.mul_expr)

    def mul_expr(self) -> Expr:
        return self.chain(("*", "/", "%"), self.unary)

    def chain(self, ops: tuple[str, ...], operand: _Rule) -> Expr:
        left = operand()
        while self.at(*ops):
            op = self.advance()
            right = operand()
            left = self.checked(
                Binary(op=as_binary_op(op.text), left=left, right=right, pos=op.pos)
            )
        return left

    def unary(self) -> Expr:
        if not self.at("-"):
            return self.primary()
        pos = self.advance().pos
        self.nest(pos)
        try:
            operand = self.unary()
        finally:
            self.unnest()
        return self.checked(Negate(operand=operand, pos=pos))

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind in ("string", "number"):
            self.advance()
            return Const(value=token.value, pos=token.pos)
        if token.kind == "op" and token.text == "(":
            self.advance()
            self.nest(token.pos)
            try:
                inner = self.or_expr()
            finally:
                self.unnest()
            self.expect(")", f"to close the ( at position {token.pos}")
            return inner
        if token.kind == "op" and token.text == "[":
            return self.const_list()
        if token.kind == "name":
            return self.named(token)
        raise self.error(token.pos, self.no_value(token))

    def no_value(self, token: Token) -> str:
        after = f" after {describe(self.tokens[self.index - 1])}" if self.index else ""
        if token.kind == "end":
            return f"expected a value{after}"
        return f"expected a value{after}, found {describe(token)}"

    def named(self, token: Token) -> Expr:
        name = token.text
        if name in _CONSTANTS:
            self.advance()
            return Const(value=_CONSTANTS[name], pos=token.pos)
        if name in SOURCES:
            self.advance()
            return self.ref(token)
        if name in FUNCTIONS:
            self.advance()
            return self.call(token)
        if name == "datetime":
            self.advance()
            return self.datetime_call(token)
        if name in _KEYWORDS:
            raise self.error(token.pos, self.no_value(token))
        if name.lower() in _KEYWORDS:
            raise self.error(token.pos, f'unknown name "{name}" (keywords are lowercase)')
        what = f'unknown name "{name}"; expected a value (a property is properties["{name}"])'
        raise self.error(token.pos, what)

    def ref(self, keyword: Token) -> Expr:
        self.expect("[", f"after {keyword.text}")
        name = self.peek()
        if name.kind != "string":
            what = f'expected a quoted property name after "[", found {describe(name)}'
            raise self.error(name.pos, what)
        self.advance()
        self.expect("]", "after the property name")
        assert isinstance(name.value, str)
        return Ref(source=as_source(keyword.text), name=name.value, pos=keyword.pos)

    def call(self, func: Token) -> Expr:
        self.expect("(", f"after {func.text}")
        self.nest(func.pos)
        try:
            arg = self.or_expr()
        finally:
            self.unnest()
        self.expect(")", f"to close {func.text}(")
        return self.checked(Call(func=as_function(func.text), arg=arg, pos=func.pos))

    def datetime_call(self, func: Token) -> Expr:
        self.expect("(", "after datetime")
        arg = self.advance()
        if arg.kind == "number":
            assert isinstance(arg.value, float)
            if not _MIN_SECONDS <= arg.value <= _MAX_SECONDS:
                what = "expected unix seconds between the years 1 and 9999"
                raise self.error(arg.pos, what)
            ms = round(arg.value * 1000)
        elif arg.kind == "string":
            assert isinstance(arg.value, str)
            parsed = iso_ms(arg.value)
            if parsed is None:
                what = 'expected an ISO-8601 date-time such as "2024-05-01T00:00:00"'
                raise self.error(arg.pos, what)
            ms = parsed
        else:
            what = (
                f"expected unix seconds or an ISO-8601 string in datetime(), found {describe(arg)}"
            )
            raise self.error(arg.pos, what)
        self.expect(")", "to close datetime(")
        return DateTimeConst(ms=ms, pos=func.pos)

    def const_list(self) -> Expr:
        open_ = self.advance()
        items: list[Const] = []
        if not self.at("]"):
            items.append(self.list_item())
            while self.at(","):
                self.advance()
                items.append(self.list_item())
        self.expect("]", f'or "," in the list opened at position {open_.pos}')
        return ConstList(items=tuple(items), pos=open_.pos)

    def list_item(self) -> Const:
        token = self.advance()
        sign = 1.0
        if token.kind == "op" and token.text == "-" and self.peek().kind == "number":
            sign, token = -1.0, self.advance()
        if token.kind == "number" and isinstance(token.value, float):
            return Const(value=sign * token.value, pos=token.pos)
        if token.kind == "string" or (token.kind == "name" and token.text in _CONSTANTS):
            value = token.value if token.kind == "string" else _CONSTANTS[token.text]
            return Const(value=value, pos=token.pos)
        what = (
            f"expected a string, number, true, false or null in the list, found {describe(token)}"
        )
        raise self.error(token.pos, what)


_Rule = Callable[[], Expr]
_N = TypeVar("_N", bound=Node)


def describe(token: Token) -> str:
    """How an error message names a token: a string as written, others quoted."""
    if token.kind == "end":
        return "the end of the expression"
    text = token.text if len(token.text) <= 30 else token.text[:27] + "..."
    return text if token.kind == "string" else f'"{text}"'
