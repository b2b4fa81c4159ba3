"""Compile a ``where`` or ``on`` expression to DuckDB SQL, run by the database.

The semantics are those of ``reference/mixpanel_query.md`` §5.1; the points it
leaves open are decided here (each marked **Decision**):

- Types: string, number, boolean, list, object, null, undefined (a missing
  property), and datetime (``datetime(...)`` and the event time). Numbers are
  doubles, as in JavaScript.
- ``==`` always gives a boolean: operands of different types are unequal, ``!=`` is
  its negation. **Decision:** undefined equals undefined (it is a type with one
  value, as JavaScript's ``undefined === undefined``); a datetime equals an ISO-8601
  string naming the same millisecond, consistent with ``<=`` and ``>=`` on them.
- ``> >= < <=`` compare two numbers, two strings (by code point), or a datetime with
  a datetime or an ISO-8601 string (read as UTC unless it names a zone); anything
  else is undefined.
- ``a in b``: substring when both are strings; membership (by ``==``) when ``b`` is a
  list literal or a list-valued property; otherwise undefined. **Decision:**
  membership is true or false, never undefined, even when ``a`` is undefined (no
  element equals it).
- ``and`` / ``or`` read undefined as false. An operand the compiler knows is not a
  boolean (``1 and x``) is a 400. **Decision:** a property that turns out not to be
  a boolean in some row counts as false there: an error that depends on the data
  would make a filter fail on one bad row.
- ``not``: boolean negation; ``not undefined`` is true; other types give undefined.
- ``+`` adds numbers or joins strings; ``- * / %`` take numbers; ``x / 0`` and
  ``x % 0`` are undefined; ``%`` takes the sign of the dividend. Anything else is
  undefined. An overflow gives DuckDB's ``inf``, as JavaScript gives ``Infinity``.
- ``number(x)``: a string in decimal notation (optional sign and exponent, nothing
  around it) is parsed, other strings are undefined; true/false give 1/0; null,
  undefined, lists and objects are undefined. **Decision:** a datetime gives unix
  seconds, so ``number(datetime(n)) == n``.
- ``string(x)``: numbers as :func:`typed_sql.number_text` prints them, booleans as
  ``"true"``/``"false"``; null stays null, undefined stays undefined.
  **Decision:** a datetime gives ``YYYY-MM-DDTHH:MM:SS`` (UTC), a list or object its
  JSON text.
- ``boolean(x)``: as Mixpanel's *Data Type* docs give it: ``"false"``, ``0``,
  ``""``, null and undefined are false, and any other value is true.
- ``floor`` / ``round`` / ``ceil`` take numbers, else undefined; ``round`` takes
  halves away from zero.
- ``defined(x)``: **Decision:** true when ``x`` is neither undefined nor JSON null:
  the UI's "is set" treats a property sent as ``null`` as not set.
- ``properties["$time"]`` and ``event["$time"]`` are the event time (a datetime)
  when the scope has one; ``properties["time"]`` is whatever property is stored.
  ``event["x"]`` otherwise reads the properties, as ``properties["x"]`` does.
- The result of ``where`` keeps a row only when it is boolean true (any other value,
  even a constant one such as ``1``, keeps none); the result of ``on`` is
  stringified as a segment key (:func:`typed_sql.stringify`), and is SQL NULL where
  undefined: the caller names that segment.

An operation often needs an operand more than once (a property's type is tested,
then its value read). Repeating long operand SQL would grow the SQL exponentially
with nesting, so an operand longer than :data:`SHARE_OVER` characters is evaluated
once and named, DuckDB's way: ``list_transform([operand], lambda v: ...)[1]``. Short
operands, which is all of them in common filters, stay inline. :data:`MAX_SQL` caps
what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import assert_never

from idmerge.query import typed_sql as t
from idmerge.query.expr import ExpressionError, parse
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
    Not,
    Ref,
    Scalar,
)
from idmerge.query.typed_sql import Kind, SqlValue

MAX_SQL = 1_000_000  # characters of generated SQL for one expression
SHARE_OVER = 160  # characters of operand SQL past which it is named, not repeated


@dataclass(frozen=True)
class Scope:
    """What the names of an expression mean where it is used. The SQL given here is
    spliced into lambdas whose parameters are named ``__v<n>`` and ``__item<n>``, so
    it should not name columns so."""

    properties: str  # SQL of a VARCHAR column holding a JSON object (e.g. "e.properties")
    time_ms: str | None = None  # BIGINT ms that event["$time"] / properties["$time"] mean
    user_properties: str | None = None  # SQL of the person's profile JSON, for user["x"]
    label: str = "where"  # the parameter's name, for error messages


def compile_where(text: str, scope: Scope) -> str:
    """SQL that is TRUE for the rows ``text`` keeps, FALSE for all others (never NULL)."""
    return t.is_true(_Compiler(text, scope).value(parse(text, scope.label)))


def compile_on(text: str, scope: Scope) -> str:
    """VARCHAR SQL of ``text``'s value as a segment key; NULL where it is undefined."""
    compiler = _Compiler(text, scope)
    value = compiler.value(parse(text, scope.label))
    return compiler.share(value, lambda v: SqlValue(Kind.STRING, t.stringify(v))).sql


def compile_number(text: str, scope: Scope) -> str:
    """DOUBLE SQL of ``text``'s value where it is a number, NULL elsewhere (a string
    such as ``"12"`` is not a number here: ``number(...)`` converts explicitly)."""
    compiler = _Compiler(text, scope)
    value = compiler.value(parse(text, scope.label))
    return t.as_number(value) or "CAST(NULL AS DOUBLE)"


class _Compiler:
    def __init__(self, text: str, scope: Scope) -> None:
        self.text = text
        self.scope = scope
        self.lambdas = 0  # names lambda parameters apart

    def error(self, pos: int, what: str) -> ExpressionError:
        return ExpressionError.at(self.scope.label, self.text, pos, what)

    def value(self, node: Expr) -> SqlValue:
        result = self.node(node)
        if len(result.sql) > MAX_SQL:
            what = f"the expression is too complex (its SQL passes {MAX_SQL} characters)"
            raise self.error(node.pos, what)
        return result

    def node(self, node: Expr) -> SqlValue:
        match node:
            case Const():
                return t.const(node.value)
            case ConstList():
                return t.const_list(tuple(item.value for item in node.items))
            case DateTimeConst():
                return t.datetime_ms(node.ms)
            case Ref():
                return self.ref(node)
            case Call():
                return self.share(self.value(node.arg), lambda arg: self.call(node.func, arg))
            case Not():
                return self.share(self.value(node.operand), negation)
            case Negate():
                return self.share(self.value(node.operand), negative)
            case Binary():
                return self.binary(node)
            case Logical():
                return self.logical(node)
            case _:
                assert_never(node)

    def ref(self, node: Ref) -> SqlValue:
        if node.source == "user":
            if self.scope.user_properties is None:
                raise self.error(node.pos, "user[...] is not available here")
            document = self.scope.user_properties
        else:
            if node.name == "$time" and self.scope.time_ms is not None:
                return SqlValue(Kind.DATETIME, t.primary(self.scope.time_ms))
            document = self.scope.properties
        return SqlValue(Kind.ANY, f"json_extract({document}, {t.json_pointer(node.name)})")

    def logical(self, node: Logical) -> SqlValue:
        parts = []
        for operand in node.operands:
            value = self.value(operand)
            if value.kind not in (Kind.BOOLEAN, Kind.ANY, Kind.UNDEFINED):
                what = f'"{node.op}" needs true or false on each side, found {value.kind.value}'
                raise self.error(operand.pos, what)
            parts.append(t.is_true(value))
        joiner = " AND " if node.op == "and" else " OR "
        return SqlValue(Kind.BOOLEAN, "(" + joiner.join(parts) + ")", total=True)

    def share(self, value: SqlValue, use: Callable[[SqlValue], SqlValue]) -> SqlValue:
        """``use(value)``, with a long ``value`` evaluated once and named."""
        if len(value.sql) <= SHARE_OVER:
            return use(value)
        self.lambdas += 1
        name = f"__v{self.lambdas}"
        result = use(replace(value, sql=name))
        if name not in result.sql:
            return result
        return replace(result, sql=f"list_transform([{value.sql}], lambda {name}: {result.sql})[1]")

    def binary(self, node: Binary) -> SqlValue:
        left, right = self.value(node.left), self.value(node.right)
        return self.share(left, lambda a: self.share(right, lambda b: self.operate(node, a, b)))

    def operate(self, node: Binary, left: SqlValue, right: SqlValue) -> SqlValue:
        match node.op:
            case "==":
                return SqlValue(Kind.BOOLEAN, equal(left, right), total=True)
            case "!=":
                return SqlValue(Kind.BOOLEAN, f"(NOT {equal(left, right)})", total=True)
            case ">" | ">=" | "<" | "<=":
                return order(node.op, left, right)
            case "in":
                return self.contains(left, right)
            case "+":
                return plus(left, right)
            case "-" | "*" | "/" | "%":
                return arithmetic(node.op, left, right)
            case _:
                assert_never(node.op)

    def contains(self, item: SqlValue, whole: SqlValue) -> SqlValue:
        """``item in whole``."""
        if whole.kind is Kind.LIST:
            return SqlValue(Kind.BOOLEAN, in_list(item, whole.items), total=True)
        needle = t.as_string(item)
        if whole.kind is Kind.STRING:
            return t.UNDEFINED if needle is None else boolean(f"contains({whole.sql}, {needle})")
        if whole.kind is not Kind.ANY:
            return t.UNDEFINED
        j = whole.sql
        self.lambdas += 1
        element = SqlValue(Kind.ANY, f"__item{self.lambdas}")
        test = f"lambda {element.sql}: {equal(element, item)}"
        member = f"list_contains(list_transform(json_extract({j}, '$[*]'), {test}), TRUE)"
        substring = "NULL" if needle is None else f"contains(({j} ->> '$'), {needle})"
        return boolean(
            f"CASE json_type({j}) WHEN 'ARRAY' THEN {member} WHEN 'VARCHAR' THEN {substring} END"
        )

    def call(self, func: Function, arg: SqlValue) -> SqlValue:
        match func:
            case "defined":
                if arg.kind in (Kind.NULL, Kind.UNDEFINED):
                    return t.boolean(False)
                if arg.kind is Kind.ANY:
                    return total(f"COALESCE({arg.sql} <> 'null', FALSE)")
                return t.boolean(True) if arg.total else total(f"({arg.sql} IS NOT NULL)")
            case "boolean":
                return total(truthy(arg))
            case "number":
                return to_number(arg)
            case "string":
                return to_string(arg)
            case "floor" | "round" | "ceil":
                n = t.as_number(arg)
                return t.UNDEFINED if n is None else SqlValue(Kind.NUMBER, f"{func}({n})")
            case _:
                assert_never(func)


def boolean(sql: str) -> SqlValue:
    return SqlValue(Kind.BOOLEAN, sql)


def total(sql: str) -> SqlValue:
    return SqlValue(Kind.BOOLEAN, sql, total=True)


def negative(value: SqlValue) -> SqlValue:
    n = t.as_number(value)
    return t.UNDEFINED if n is None else SqlValue(Kind.NUMBER, f"(-{n})")


def negation(value: SqlValue) -> SqlValue:
    """``not``: undefined gives true, a non-boolean gives undefined."""
    if value.kind is Kind.BOOLEAN:
        return total(f"(NOT {value.sql if value.total else t.coalesce_false(value.sql)})")
    if value.kind is Kind.UNDEFINED:
        return t.boolean(True)
    if value.kind is Kind.ANY:
        j = value.sql
        flips = f"WHEN {j} IS NULL OR {j} = 'false' THEN TRUE WHEN {j} = 'true' THEN FALSE"
        return boolean(f"CASE {flips} END")
    return t.UNDEFINED if value.total else boolean(f"CASE WHEN {value.sql} IS NULL THEN TRUE END")


def equal(a: SqlValue, b: SqlValue) -> str:
    """SQL for ``a == b``: TRUE or FALSE, never NULL."""
    if a.kind is Kind.UNDEFINED:
        return t.is_undefined(b)
    if b.kind is Kind.UNDEFINED:
        return t.is_undefined(a)
    same = t.coalesce_false(_equal_when_defined(a, b))
    if a.total or b.total:
        return same
    both_undefined = f"({a.sql} IS NULL AND {b.sql} IS NULL)"
    return f"CASE WHEN {a.sql} IS NULL OR {b.sql} IS NULL THEN {both_undefined} ELSE {same} END"


def _equal_when_defined(a: SqlValue, b: SqlValue) -> str:
    """``a == b`` when neither is undefined (NULL counts as FALSE)."""
    if b.kind is Kind.ANY and a.kind is not Kind.ANY:
        a, b = b, a
    if a.kind is Kind.ANY:
        match b.kind:
            case Kind.ANY:
                return f"COALESCE({t.as_number(a)} = {t.as_number(b)}, {a.sql} = {b.sql})"
            case Kind.NUMBER:
                return f"{t.as_number(a)} = {b.sql}"
            case Kind.STRING | Kind.BOOLEAN:
                return f"{a.sql} = to_json({b.sql})"
            case Kind.NULL:
                return f"{a.sql} = 'null'"
            case Kind.LIST:
                return f"{a.sql} = {b.sql}"
            case Kind.DATETIME:
                return f"{t.as_datetime(a)} = {b.sql}"
    if {a.kind, b.kind} == {Kind.DATETIME, Kind.STRING}:
        return f"{t.as_datetime(a)} = {t.as_datetime(b)}"
    if a.kind is not b.kind:
        return "FALSE"
    if a.kind is Kind.NULL:
        return "TRUE"
    if a.kind is Kind.LIST:
        return "TRUE" if _typed(a.items) == _typed(b.items) else "FALSE"
    return f"{a.sql} = {b.sql}"


def _typed(items: tuple[object, ...]) -> list[tuple[type, object]]:
    # Python's True == 1.0; Mixpanel's types keep them apart.
    return [(type(item), item) for item in items]


def in_list(item: SqlValue, items: tuple[Scalar, ...]) -> str:
    """``item in [...]``: TRUE when it equals an element (by ``==``), else FALSE. The
    common cases become one SQL ``IN`` per type."""
    numbers = [t.sql_number(x) for x in items if isinstance(x, float)]
    others = [x for x in items if not isinstance(x, float)]
    parts = []
    n = t.as_number(item)
    if numbers and n is not None:
        parts.append(f"{n} IN ({', '.join(numbers)})")
    if item.kind is Kind.ANY:
        if others:
            parts.append(f"{item.sql} IN ({', '.join(t.json_const(x) for x in others)})")
    elif item.kind in (Kind.STRING, Kind.BOOLEAN):
        same = [c.sql for c in map(t.const, others) if c.kind is item.kind]
        if same:
            parts.append(f"{item.sql} IN ({', '.join(same)})")
    elif item.kind is not Kind.NUMBER:
        parts += [equal(item, t.const(x)) for x in others]
    return t.coalesce_false(t.any_of(parts))


def order(op: str, a: SqlValue, b: SqlValue) -> SqlValue:
    """``a op b`` for ``> >= < <=``: in whichever type both can have, else undefined.
    A row's values have one type each, so at most one alternative is ever non-NULL."""
    views: list[Callable[[SqlValue], str | None]] = [t.as_number, t.as_string]
    if Kind.DATETIME in (a.kind, b.kind):
        views = [t.as_datetime]
    tests = []
    for view in views:
        x, y = view(a), view(b)
        if x is not None and y is not None:
            tests.append(f"({x} {op} {y})")
    if not tests:
        return t.UNDEFINED
    return boolean(tests[0] if len(tests) == 1 else f"COALESCE({', '.join(tests)})")


def plus(a: SqlValue, b: SqlValue) -> SqlValue:
    na, nb, sa, sb = t.as_number(a), t.as_number(b), t.as_string(a), t.as_string(b)
    added = None if na is None or nb is None else f"({na} + {nb})"
    joined = None if sa is None or sb is None else f"({sa} || {sb})"
    if added is not None and joined is not None:
        return SqlValue(Kind.ANY, f"COALESCE(to_json({added}), to_json({joined}))")
    if added is not None:
        return SqlValue(Kind.NUMBER, added)
    if joined is not None:
        return SqlValue(Kind.STRING, joined)
    return t.UNDEFINED


def arithmetic(op: str, a: SqlValue, b: SqlValue) -> SqlValue:
    na, nb = t.as_number(a), t.as_number(b)
    if na is None or nb is None:
        return t.UNDEFINED
    if op in ("/", "%"):
        nb = f"NULLIF({nb}, 0)"
    return SqlValue(Kind.NUMBER, f"({na} {op} {nb})")


def truthy(value: SqlValue) -> str:
    """``boolean(x)``, never NULL."""
    match value.kind:
        case Kind.BOOLEAN:
            return t.coalesce_false(value.sql)
        case Kind.NUMBER:
            return f"COALESCE({value.sql} <> 0, FALSE)"
        case Kind.STRING:
            return f"COALESCE({value.sql} NOT IN ('', 'false'), FALSE)"
        case Kind.DATETIME | Kind.LIST:
            return "TRUE" if value.total else f"({value.sql} IS NOT NULL)"
        case Kind.NULL | Kind.UNDEFINED:
            return "FALSE"
        case Kind.ANY:
            j = value.sql
            falsy = "('false', '\"false\"', '\"\"', 'null')"
            return (
                f"CASE WHEN json_type({j}) IN {t.JSON_NUMBER_TYPES} THEN CAST({j} AS DOUBLE) <> 0 "
                f"ELSE COALESCE(CAST({j} AS VARCHAR) NOT IN {falsy}, FALSE) END"
            )


def to_number(value: SqlValue) -> SqlValue:
    if value.kind is Kind.DATETIME:
        return SqlValue(Kind.NUMBER, f"(CAST({value.sql} AS DOUBLE) / 1000)", value.total)
    candidates = []
    if (n := t.as_number(value)) is not None:
        candidates.append(n)
    if (s := t.as_string(value)) is not None:
        candidates.append(_parse_decimal(s))
    if (b := t.as_boolean(value)) is not None:
        candidates.append(f"CAST({b} AS DOUBLE)")
    if not candidates:
        return t.UNDEFINED
    sql = candidates[0] if len(candidates) == 1 else f"COALESCE({', '.join(candidates)})"
    return SqlValue(Kind.NUMBER, sql, value.total and value.kind is not Kind.STRING)


_DECIMAL = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def _parse_decimal(s: str) -> str:
    pattern = t.sql_string(_DECIMAL)
    return f"CASE WHEN regexp_full_match({s}, {pattern}) THEN TRY_CAST({s} AS DOUBLE) END"


def to_string(value: SqlValue) -> SqlValue:
    match value.kind:
        case Kind.STRING | Kind.NULL | Kind.UNDEFINED:
            return value
        case Kind.NUMBER | Kind.BOOLEAN | Kind.DATETIME | Kind.LIST:
            return SqlValue(Kind.STRING, t.stringify(value), value.total)
        case Kind.ANY:
            j = value.sql
            keep = f"json_type({j}) IN ('VARCHAR', 'NULL')"
            other = f"to_json({t.stringify(value)})"
            return SqlValue(Kind.ANY, f"CASE WHEN {keep} THEN {j} ELSE {other} END")
