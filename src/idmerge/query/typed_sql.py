"""How each type of Mixpanel's expression language is carried in DuckDB SQL.

An expression compiles to a :class:`SqlValue`: SQL text plus the type the compiler
knows it has. Where the type is known before any row is read (a literal, the result
of ``number(...)`` or ``==``), the SQL is of the native type (VARCHAR, DOUBLE,
BOOLEAN, or BIGINT milliseconds for a datetime), so ``properties["$os"] == "Linux"``
costs one JSON lookup and one text comparison. A property's type is known only per
row, so a property is carried as DuckDB JSON (kind :attr:`Kind.ANY`) and read
through a *view* (:func:`as_number`, :func:`as_string`...) that yields the value when
it has that type and NULL otherwise.

In every kind, SQL NULL means Mixpanel's *undefined* (a missing property, ``1 / 0``).
JSON ``null`` is a value: the JSON text ``null`` in kind ANY, or kind NULL (whose
one value needs no SQL).

Decision: JSON values are compared by their text as DuckDB writes it back
(``json_extract`` and ``to_json`` share one writer, so equal strings, booleans and
nulls have equal text); numbers are compared as doubles, as JavaScript would, so
``1 == 1.0``. Lists and objects are equal when their JSON text is, so ``[1]`` and
``[1.0]`` differ.

Everything spliced into SQL goes through :func:`sql_string` or :func:`sql_number`,
so no input can end a literal early or open a comment. And every value's SQL is a
*primary* (a literal, a name, a call, ``CASE ... END`` or parenthesised), so it can be
spliced as an operand without asking how tightly the operator around it binds.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import Enum

from idmerge.query.expr import ISO_DATETIME, iso_ms
from idmerge.query.syntax import Scalar


class Kind(Enum):
    """A value's type as the compiler knows it; the value is the phrase that error
    messages use for it."""

    STRING = "a string"
    NUMBER = "a number"
    BOOLEAN = "a boolean"
    DATETIME = "a datetime"
    NULL = "null"
    LIST = "a list"
    UNDEFINED = "undefined"
    ANY = "a property"  # JSON whose type is known only row by row


@dataclass(frozen=True)
class SqlValue:
    kind: Kind
    sql: str  # NULL where the value is undefined
    total: bool = False  # True when ``sql`` is never NULL
    text: str | None = None  # a string constant's value, to read it as a datetime here
    items: tuple[Scalar, ...] = ()  # a list constant's items


UNDEFINED = SqlValue(Kind.UNDEFINED, "NULL")
NULL = SqlValue(Kind.NULL, "NULL", total=True)
#: What ``json_type`` calls a JSON number.
JSON_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal. DuckDB's literals cannot hold NUL, so a NUL
    is spliced in with ``chr(0)`` (still a constant DuckDB folds before use)."""
    parts = ["'" + part.replace("'", "''") + "'" for part in value.split("\x00")]
    return parts[0] if len(parts) == 1 else "(" + " || chr(0) || ".join(parts) + ")"


def sql_number(value: float) -> str:
    """A finite float as a DOUBLE literal; ``repr`` round-trips, and a negative one is
    parenthesised so that no ``--`` (a SQL comment) can appear after another minus."""
    assert math.isfinite(value), value
    text = f"{abs(value)!r}::DOUBLE"
    return f"(-{text})" if math.copysign(1.0, value) < 0 else text


def json_pointer(name: str) -> str:
    """The JSON pointer (RFC 6901) of a top-level key: unlike a ``$."..."`` path it
    has no quoting to get wrong, only ``~`` and ``/`` to escape."""
    return sql_string("/" + name.replace("~", "~0").replace("/", "~1"))


def string(value: str) -> SqlValue:
    return SqlValue(Kind.STRING, sql_string(value), total=True, text=value)


def number(value: float) -> SqlValue:
    return SqlValue(Kind.NUMBER, sql_number(value), total=True)


def boolean(value: bool) -> SqlValue:
    return SqlValue(Kind.BOOLEAN, "TRUE" if value else "FALSE", total=True)


def datetime_ms(ms: int) -> SqlValue:
    return SqlValue(Kind.DATETIME, str(ms) if ms >= 0 else f"({ms})", total=True)


def primary(sql: str) -> str:
    """Caller-given SQL as a primary: a dotted name as it is, anything else bracketed."""
    return sql if re.fullmatch(r"[A-Za-z_][\w.]*", sql) else f"({sql})"


def const(value: Scalar) -> SqlValue:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return boolean(value)
    if isinstance(value, str):
        return string(value)
    return number(value)


def const_list(items: tuple[Scalar, ...]) -> SqlValue:
    """A list literal, as the JSON DuckDB would write for the same list."""
    text = json.dumps([_json_item(item) for item in items], ensure_ascii=False)
    return SqlValue(Kind.LIST, f"json({sql_string(text)})", total=True, items=items)


def _json_item(item: Scalar) -> Scalar | int:
    # A whole number reads back from stored JSON as ``1``, not ``1.0``.
    if isinstance(item, float) and item.is_integer() and abs(item) < 2**53:
        return int(item)
    return item


def json_const(value: Scalar) -> str:
    """SQL for the JSON text of a scalar, to compare with a kind-ANY value."""
    if value is None:
        return "'null'::JSON"
    if isinstance(value, bool):
        return f"to_json({'TRUE' if value else 'FALSE'})"
    if isinstance(value, str):
        return f"to_json({sql_string(value)})"
    return f"to_json({sql_number(value)})"


# --- views: one type read out of a value -------------------------------------------


def as_number(value: SqlValue) -> str | None:
    """DOUBLE SQL that is the number when ``value`` is one, else NULL; ``None`` when
    it can never be one."""
    if value.kind is Kind.NUMBER:
        return value.sql
    if value.kind is Kind.ANY:
        j = value.sql
        return f"CASE WHEN json_type({j}) IN {JSON_NUMBER_TYPES} THEN CAST({j} AS DOUBLE) END"
    return None


def as_string(value: SqlValue) -> str | None:
    if value.kind is Kind.STRING:
        return value.sql
    if value.kind is Kind.ANY:
        j = value.sql
        return f"CASE WHEN json_type({j}) = 'VARCHAR' THEN ({j} ->> '$') END"
    return None


def as_boolean(value: SqlValue) -> str | None:
    if value.kind is Kind.BOOLEAN:
        return value.sql
    if value.kind is Kind.ANY:
        j = value.sql
        return f"CASE WHEN {j} = 'true' THEN TRUE WHEN {j} = 'false' THEN FALSE END"
    return None


def as_datetime(value: SqlValue) -> str | None:
    """BIGINT milliseconds for a datetime, or for a string in an ISO-8601 form (which
    is how JSON carries Mixpanel's datetimes); NULL for other strings."""
    if value.kind is Kind.DATETIME:
        return value.sql
    if value.text is not None:
        ms = iso_ms(value.text)
        return "NULL" if ms is None else datetime_ms(ms).sql
    text = as_string(value)
    return None if text is None else iso_ms_sql(text)


_ZONED = r":\d\d(?:\.\d+)?(?:Z|[+-]\d\d(?::?\d\d)?)$"


def iso_ms_sql(text: str) -> str:
    """SQL reading ISO-8601 text as :func:`expr.iso_ms` does: only the forms it
    accepts, as UTC unless a zone is written (a TIMESTAMPTZ cast honours a written
    zone; a TIMESTAMP cast reads the rest as UTC whatever the session's zone), and
    flooring to the millisecond (``epoch_ms`` alone would round)."""
    zoned = f"TRY_CAST({text} AS TIMESTAMPTZ)"
    local = f"TRY_CAST({text} AS TIMESTAMP)"
    return (
        f"CASE WHEN regexp_full_match({text}, {sql_string(ISO_DATETIME)}) THEN "
        f"CASE WHEN regexp_matches({text}, {sql_string(_ZONED)}) "
        f"THEN epoch_ms(date_trunc('millisecond', {zoned})) "
        f"ELSE epoch_ms(date_trunc('millisecond', {local})) END END"
    )


def is_true(value: SqlValue) -> str:
    """SQL that is TRUE exactly when the value is boolean true, and never NULL."""
    if value.kind is Kind.BOOLEAN:
        return value.sql if value.total else f"COALESCE({value.sql}, FALSE)"
    if value.kind is Kind.ANY:
        return f"COALESCE({value.sql} = 'true', FALSE)"
    return "FALSE"


def is_undefined(value: SqlValue) -> str:
    if value.kind is Kind.UNDEFINED:
        return "TRUE"
    return "FALSE" if value.total else f"({value.sql} IS NULL)"


def number_text(n: str) -> str:
    """A number as a segment key: whole numbers without ``.0`` (as JavaScript prints
    them, up to 1e21), others in DuckDB's shortest round-trip form."""
    whole = f"{n} = trunc({n}) AND abs({n}) < 1e21"
    as_whole = f"CAST(CAST({n} AS HUGEINT) AS VARCHAR)"
    return f"CASE WHEN {whole} THEN {as_whole} ELSE CAST({n} AS VARCHAR) END"


def datetime_text(ms: str) -> str:
    """A datetime as Mixpanel writes one: ``YYYY-MM-DDTHH:MM:SS`` in UTC."""
    return f"strftime(epoch_ms({ms}), '%Y-%m-%dT%H:%M:%S')"


def stringify(value: SqlValue) -> str:
    """VARCHAR SQL of the value as a segment key: strings as they are, numbers per
    :func:`number_text`, ``true``/``false``/``null``, lists and objects as JSON text;
    NULL when undefined."""
    match value.kind:
        case Kind.STRING:
            return value.sql
        case Kind.NUMBER:
            return number_text(value.sql)
        case Kind.BOOLEAN | Kind.LIST:
            return f"CAST({value.sql} AS VARCHAR)"
        case Kind.DATETIME:
            return datetime_text(value.sql)
        case Kind.NULL:
            return "'null'"
        case Kind.UNDEFINED:
            return "CAST(NULL AS VARCHAR)"
        case Kind.ANY:
            j = value.sql
            return (
                f"CASE json_type({j}) WHEN 'VARCHAR' THEN ({j} ->> '$') "
                f"WHEN 'DOUBLE' THEN {number_text(f'CAST({j} AS DOUBLE)')} "
                f"ELSE CAST({j} AS VARCHAR) END"
            )


def coalesce_false(sql: str) -> str:
    return sql if sql in ("TRUE", "FALSE") else f"COALESCE({sql}, FALSE)"


def any_of(parts: list[str]) -> str:
    """OR of SQL booleans, folding the constants the compiler produces."""
    parts = [part for part in parts if part != "FALSE"]
    if "TRUE" in parts:
        return "TRUE"
    if not parts:
        return "FALSE"
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
