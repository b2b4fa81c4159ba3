"""Compiled expressions, run by a real DuckDB: which rows each rule keeps, what ``on``
makes of each value, the SQL of common filters, and properties of arbitrary input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idmerge.query.compile import Scope, compile_on, compile_where
from idmerge.query.expr import ExpressionError, iso_ms
from idmerge.query.typed_sql import iso_ms_sql, sql_string

HOUR = 3_600_000
T0 = 1714521600000  # 2024-05-01T00:00:00Z, the time of row 1; each next row is an hour later

ROWS: dict[int, dict[str, Any]] = {
    1: {
        "$os": "Linux",
        "n": 5,
        "s": "abc",
        "f": 1.5,
        "l": ["Jacket", 1, True],
        "b": True,
        "z": None,
        "d": "2024-02-01T00:00:00",
        "zero": 0,
        "neg": -7,
        "e": "",
        "o": {"k": 1},
        "big": 12345678901234567890,
    },
    2: {"$os": "Mac", "n": 5.0, "s": "5", "b": False, "d": "2024-01-01", "l": [], "e": "false"},
    3: {"n": "5", "b": "true", "s": "xyz", "l": "Jacket coat", "time": 123, "$time": "stored"},
    4: {},
}
ALL = set(ROWS)
USERS = {1: {"plan": "pro"}, 2: {"plan": "free"}}
EVENTS = Scope(properties="e.properties", time_ms="e.time", user_properties="u.properties")
PROFILES = Scope(properties="e.properties")


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("CREATE TABLE e (id INTEGER, properties VARCHAR, time BIGINT)")
    con.execute("CREATE TABLE u (id INTEGER, properties VARCHAR)")
    for i, props in ROWS.items():
        con.execute("INSERT INTO e VALUES (?, ?, ?)", [i, json.dumps(props), T0 + (i - 1) * HOUR])
    for i, props in USERS.items():
        con.execute("INSERT INTO u VALUES (?, ?)", [i, json.dumps(props)])
    yield con
    con.close()


FROM = "FROM e LEFT JOIN u USING (id)"


def matching(db: duckdb.DuckDBPyConnection, text: str, scope: Scope = EVENTS) -> set[int]:
    sql = compile_where(text, scope)
    return {row[0] for row in db.execute(f"SELECT id {FROM} WHERE {sql}").fetchall()}


def segments(db: duckdb.DuckDBPyConnection, text: str) -> dict[int, str | None]:
    sql = compile_on(text, EVENTS)
    return dict(db.execute(f"SELECT id, {sql} {FROM} ORDER BY id").fetchall())


#: (expression, the rows it keeps): each case fails if the rule in its comment breaks.
WHERE = [
    # == is type-strict and never undefined; != is its negation
    ('properties["$os"] == "Linux"', {1}),
    ('properties["n"] == 5', {1, 2}),  # 5 and 5.0 are one number
    ('properties["n"] == "5"', {3}),  # a string is not a number
    ('properties["n"] != 5', {3, 4}),  # a missing property differs from 5
    ('properties["b"] == true', {1}),
    ('properties["b"] == "true"', {3}),
    ('properties["z"] == null', {1}),  # JSON null is null...
    ('properties["missing"] == null', set()),  # ...and undefined is not
    ('properties["missing"] == properties["other"]', ALL),  # undefined == undefined
    ('properties["n"] == properties["n"]', ALL),
    ('properties["n"] == properties["s"]', {4}),  # 5 vs "abc", 5.0 vs "5", "5" vs "xyz"
    ('properties["l"] == ["Jacket", 1, true]', {1}),
    ('properties["l"] == []', {2}),
    ('properties["o"] == properties["o"]', ALL),
    ("1 == 1.0 and not 1 == '1' and [1, 'a'] == [1, 'a'] and not [1] == [true]", ALL),
    ("null == null and not null == 0 and not true == 1", ALL),
    # > >= < <= on numbers, strings, datetimes; otherwise undefined
    ('properties["n"] > 4', {1, 2}),  # "5" is a string, not compared with 4
    ('properties["n"] >= 5 and properties["n"] <= 5', {1, 2}),
    ('properties["s"] > "b"', {3}),  # lexicographic: "xyz" > "b" > "abc" > "5"
    ('properties["s"] < "b"', {1, 2}),
    ('properties["s"] < 6', set()),
    ('properties["d"] > "2024-01-15"', {1}),  # two strings
    ('properties["d"] >= datetime(1704067200)', {1, 2}),  # ISO strings vs a datetime
    ('properties["d"] < datetime("2024-01-01T00:00:00.001")', {2}),
    ('event["$time"] >= datetime(1714521600)', ALL),
    ('event["$time"] > datetime("2024-05-01T00:00:00")', {2, 3, 4}),
    ('properties["$time"] < "2024-05-01T01:00:00"', {1}),  # the time vs an ISO string
    ('properties["$time"] <= "2024-05-01 01:00"', {1, 2}),
    ('event["$time"] == datetime("2024-05-01T02:00:00+02:00")', {1}),  # a written zone
    ('event["$time"] == "2024-05-01T01:00:00Z"', {2}),  # Decision: datetime == ISO string
    ('event["$time"] == "not a date"', set()),
    ('event["$time"] > 5', set()),  # a datetime is not a number
    ('properties["time"] == 123', {3}),  # "time" is the stored property
    ('properties["$time"] == "stored"', set()),  # "$time" is the event time...
    ('event["$os"] == "Mac"', {2}),  # ...and event["x"] reads the properties
    # in: substring, list literal, list-valued property; type-strict membership
    ('"b" in properties["s"]', {1}),
    ('"" in properties["s"]', {1, 2, 3}),
    ('"Jacket" in properties["l"]', {1, 3}),  # a list member in 1, a substring in 3
    ('1 in properties["l"]', {1}),
    ('true in properties["l"]', {1}),
    ('"1" in properties["l"]', set()),
    ('properties["n"] in [1, 5, "x"]', {1, 2}),
    ('properties["n"] in ["5", true]', {3}),
    ('properties["$os"] in ["Linux", "Windows"]', {1}),
    ('properties["b"] in [false, null]', {2}),
    ('properties["z"] in [null]', {1}),
    ('properties["missing"] in []', set()),
    ('"a" in "abc" and not "d" in "abc" and 1 in [1.0]', ALL),
    ('"ab" + "c" in ["abc"] and datetime(0) in ["1970-01-01"]', ALL),
    ('not "Facebook" in properties["s"]', ALL),
    ('not "" in properties["s"]', {4}),  # the documented "is not set" idiom
    ('not "x" in properties["o"]', ALL),  # in on an object is undefined; not undefined
    # and / or read undefined (and a property that is no boolean) as false
    ('properties["$os"] == "Linux" or properties["n"] == "5"', {1, 3}),
    ('properties["b"] and true', {1}),
    ('properties["b"] or properties["missing"]', {1}),
    ('properties["missing"] or properties["b"] == false', {2}),
    ('properties["b"] == true or properties["b"] == false and properties["$os"] == "Linux"', {1}),
    # not: undefined gives true, non-booleans give undefined
    ('not properties["b"]', {2, 4}),  # "true" (a string) gives undefined
    ('not properties["missing"]', ALL),
    ('not not properties["missing"]', set()),
    ('not (properties["n"] > 4)', {3, 4}),
    ('not properties["n"]', {4}),
    ('not number(properties["s"])', {1, 3, 4}),  # undefined where "s" is no number
    # + adds numbers or joins strings; - * / % want numbers
    ('properties["n"] + 1 == 6', {1, 2}),
    ('properties["s"] + "!" == "abc!"', {1}),
    ('properties["s"] + properties["s"] == "55"', {2}),
    ('properties["n"] + properties["n"] == 10', {1, 2}),
    ('properties["n"] * 2 - 1 == 9', {1, 2}),
    ('properties["n"] / 2 == 2.5', {1, 2}),
    ('properties["neg"] % 2 == -1', {1}),  # the sign of the dividend
    ("7 % -2 == 1 and 2 + 3 * 4 == 14 and 2 - 3 - 4 == -5", ALL),
    ('-properties["n"] == -5', {1, 2}),
    ('defined(properties["n"] / 0)', set()),  # / 0 is undefined
    ('defined(properties["n"] % 0)', set()),
    ('defined(properties["s"] - 1)', set()),
    ('defined(properties["n"] + "x")', {3}),  # only the string "5" joins
    ('defined(-properties["s"])', set()),
    # number(): decimal strings, booleans; otherwise undefined
    ('number(properties["s"]) == 5', {2}),
    ('number(properties["n"]) == 5', {1, 2, 3}),
    ('number(properties["b"]) == 1', {1}),
    ('number(properties["b"]) == 0', {2}),
    ('number("1e3") == 1000 and number("-.5") == -0.5 and number(true) == 1', ALL),
    ('defined(number(" 5")) or defined(number("0x10")) or defined(number(""))', set()),
    ('defined(number(properties["z"])) or defined(number(properties["l"]))', set()),
    ('number(datetime(1714521600)) == 1714521600 and number(event["$time"]) >= 1714521600', ALL),
    # string(): numbers without ".0", booleans as words; null stays null
    ('string(properties["n"]) == "5"', {1, 2, 3}),
    ('string(properties["f"]) == "1.5"', {1}),
    ('string(properties["b"]) == "true"', {1, 3}),
    ('string(properties["z"]) == null', {1}),
    ('defined(string(properties["missing"]))', set()),
    ('string(properties["l"]) == "[]"', {2}),
    ('string(event["$time"]) == "2024-05-01T00:00:00"', {1}),
    # boolean(): "false", 0, "", null and undefined are false; any other value true
    ('boolean(properties["b"])', {1, 3}),
    ('boolean(properties["s"])', {1, 2, 3}),
    ('boolean(properties["e"])', set()),  # "" and "false"
    ('boolean(properties["zero"]) or boolean(properties["z"])', set()),
    ('boolean(properties["l"])', {1, 2, 3}),  # [] is a set value
    ('boolean(properties["n"])', {1, 2, 3}),
    ('boolean("abc") and boolean(2) and not boolean(0) and not boolean("false")', ALL),
    # floor / round / ceil on numbers; otherwise undefined
    ('floor(properties["f"]) == 1 and ceil(properties["f"]) == 2', {1}),
    ('round(properties["f"]) == 2 and round(-2.5) == -3', {1}),  # halves away from 0
    ('defined(floor(properties["s"]))', set()),
    # defined(): present and not JSON null (Decision)
    ('defined(properties["$os"])', {1, 2}),
    ('defined (properties["e"])', {1, 2}),
    ('defined(properties["z"])', set()),
    ('not defined(properties["z"])', ALL),
    # user[...] reads the profile
    ('user["plan"] == "pro"', {1}),
    ('not defined(user["plan"])', {3, 4}),
    # the result must be boolean true
    ('properties["s"]', set()),
    ('properties["b"]', {1}),
    ("1", set()),
    ("null", set()),
]


@pytest.mark.parametrize(("text", "rows"), WHERE)
def test_where_keeps_the_rows_the_rules_say(
    db: duckdb.DuckDBPyConnection, text: str, rows: set[int]
) -> None:
    assert matching(db, text) == rows


def test_profile_scope_reads_time_as_a_stored_property(db: duckdb.DuckDBPyConnection) -> None:
    assert matching(db, 'properties["$time"] == "stored"', PROFILES) == {3}
    assert matching(db, 'event["$time"] == "stored"', PROFILES) == {3}


def test_user_properties_are_refused_where_there_are_none() -> None:
    with pytest.raises(ExpressionError, match=r"user\[\.\.\.\] is not available here") as caught:
        compile_where('properties["a"] == 1 or user["plan"] == "pro"', PROFILES)
    assert caught.value.position == 24


@pytest.mark.parametrize(
    ("text", "position", "found"),
    [
        ('1 and properties["b"]', 0, "a number"),
        ('properties["b"] or "x"', 19, "a string"),
        ("true and null", 9, "null"),
        ("true and [1]", 9, "a list"),
        ('true and datetime("2024-01-01")', 9, "a datetime"),
        ('true and properties["n"] + 1', 25, "a number"),
    ],
)
def test_and_or_refuse_what_is_known_not_to_be_boolean(
    text: str, position: int, found: str
) -> None:
    with pytest.raises(ExpressionError, match=f"needs true or false on each side, found {found}"):
        compile_where(text, EVENTS)
    with pytest.raises(ExpressionError) as caught:
        compile_on(text, Scope(properties="p", label="on"))
    assert caught.value.position == position and caught.value.message.startswith("on: ")


#: (expression, segment key per row; None where the value is undefined)
ON = [
    ('properties["n"]', {1: "5", 2: "5", 3: "5", 4: None}),
    ('properties["f"] * 2', {1: "3", 2: None, 3: None, 4: None}),
    ('properties["f"] + 0.25', {1: "1.75", 2: None, 3: None, 4: None}),
    ('properties["big"]', {1: "12345678901234567890", 2: None, 3: None, 4: None}),
    ('properties["l"]', {1: '["Jacket",1,true]', 2: "[]", 3: "Jacket coat", 4: None}),
    ('properties["o"]', {1: '{"k":1}', 2: None, 3: None, 4: None}),
    ('properties["b"]', {1: "true", 2: "false", 3: "true", 4: None}),
    ('properties["z"]', {1: "null", 2: None, 3: None, 4: None}),
    ('event["$time"]', {i: f"2024-05-01T0{i - 1}:00:00" for i in ROWS}),
    # comparisons of differing types are undefined, not false
    ('properties["n"] > 4', {1: "true", 2: "true", 3: None, 4: None}),
    ('properties["s"] >= "abc"', {1: "true", 2: "false", 3: "true", 4: None}),
    ('1 in properties["n"]', {1: None, 2: None, 3: None, 4: None}),
    ('"5" in properties["n"]', {1: None, 2: None, 3: "true", 4: None}),
    ('"x" in properties["l"]', {1: "false", 2: "false", 3: "false", 4: None}),
    ('properties["n"] == "x"', {i: "false" for i in ROWS}),  # == is never undefined
    ('not properties["s"]', {1: None, 2: None, 3: None, 4: "true"}),
    ('properties["s"] + properties["n"]', {1: None, 2: None, 3: "xyz5", 4: None}),
    ('properties["n"] + properties["n"]', {1: "10", 2: "10", 3: "55", 4: None}),
    ('string(properties["n"])', {1: "5", 2: "5", 3: "5", 4: None}),
    ('string(properties["z"])', {1: "null", 2: None, 3: None, 4: None}),
]


@pytest.mark.parametrize(("text", "keys"), ON)
def test_on_gives_segment_keys(
    db: duckdb.DuckDBPyConnection, text: str, keys: dict[int, str | None]
) -> None:
    assert segments(db, text) == keys


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2 * 3", "6"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("-0.0", "0"),
        ("1e20", "100000000000000000000"),
        ("1e21", "1e+21"),
        ("string(1.5)", "1.5"),
        ("true", "true"),
        ("null", "null"),
        ('"as is"', "as is"),
        ('[1, "a", null]', '[1,"a",null]'),
        ("datetime(1714521600)", "2024-05-01T00:00:00"),
        ('string(datetime("2024-05-01T02:00:00+02:00"))', "2024-05-01T00:00:00"),
        ('number("abc")', None),
        ("1 / 0", None),
        ('floor("1")', None),
    ],
)
def test_on_stringifies_constants(
    db: duckdb.DuckDBPyConnection, text: str, key: str | None
) -> None:
    assert db.execute(f"SELECT {compile_on(text, PROFILES)}").fetchall() == [(key,)]


# --- the SQL itself, for the filters clients send most -------------------------------

SNAPSHOT_SCOPE = Scope(properties="e.properties", time_ms="e.time")
SNAPSHOTS = [
    (
        'properties["$os"] == "Linux"',
        "COALESCE(json_extract(e.properties, '/$os') = to_json('Linux'), FALSE)",
    ),
    (
        'event["$time"] >= datetime("2024-05-01T00:00:00")',
        "COALESCE((e.time >= 1714521600000), FALSE)",
    ),
    (
        'not defined(properties["city"])',
        "(NOT COALESCE(json_extract(e.properties, '/city') <> 'null', FALSE))",
    ),
    (
        'properties["account_id"] in [1,2,3,4]',
        "COALESCE(CASE WHEN json_type(json_extract(e.properties, '/account_id'))"
        " IN ('BIGINT', 'UBIGINT', 'DOUBLE')"
        " THEN CAST(json_extract(e.properties, '/account_id') AS DOUBLE) END"
        " IN (1.0::DOUBLE, 2.0::DOUBLE, 3.0::DOUBLE, 4.0::DOUBLE), FALSE)",
    ),
]


@pytest.mark.parametrize(("text", "sql"), SNAPSHOTS)
def test_common_filters_compile_to_cheap_sql(text: str, sql: str) -> None:
    assert compile_where(text, SNAPSHOT_SCOPE) == sql


def test_awkward_names_and_values_are_escaped() -> None:
    sql = compile_where("properties[\"it's/a~b\"] == 'x\\u0000y'", SNAPSHOT_SCOPE)
    assert sql == (
        "COALESCE(json_extract(e.properties, '/it''s~1a~0b')"
        " = to_json(('x' || chr(0) || 'y')), FALSE)"
    )


def test_long_operands_are_named_once_not_repeated() -> None:
    """SQL grows linearly with nesting, not exponentially."""
    sizes = []
    for depth in (4, 8, 16):
        text = "string(" * depth + 'properties["a"] + properties["b"]' + ")" * depth
        sizes.append(len(compile_on(text, PROFILES)))
    assert sizes[2] - sizes[1] < 2.5 * (sizes[1] - sizes[0])
    assert sizes[2] < 20_000


def test_runaway_sql_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("idmerge.query.compile.MAX_SQL", 500)
    with pytest.raises(ExpressionError, match="passes 500 characters"):
        compile_on('string(string(properties["a"]))', PROFILES)


# --- properties of arbitrary input ---------------------------------------------------


def literal(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@settings(max_examples=150, deadline=None)
@given(name=st.text(), value=st.text(), other=st.text(min_size=1))
def test_any_name_and_value_round_trip(
    db: duckdb.DuckDBPyConnection, name: str, value: str, other: str
) -> None:
    """properties[NAME] == VALUE keeps exactly the row whose NAME is VALUE."""
    rows = [{name: value}, {name: value + other}, {name + other: value}, {name: [value]}, {}]
    con = db.cursor()
    con.execute("CREATE TEMP TABLE r (id INTEGER, properties VARCHAR)")
    try:
        for i, props in enumerate(rows):
            con.execute("INSERT INTO r VALUES (?, ?)", [i, json.dumps(props)])
        scope = Scope(properties="r.properties")
        for text, expected in [
            (f"properties[{literal(name)}] == {literal(value)}", [0]),
            (f"{literal(value)} in properties[{literal(name)}]", [0, 1, 3]),
            (f"properties[{literal(name)}] in [{literal(value)}]", [0]),
        ]:
            sql = compile_where(text, scope)
            found = con.execute(f"SELECT id FROM r WHERE {sql} ORDER BY id").fetchall()
            assert [row[0] for row in found] == expected, text
        key = compile_on(f"properties[{literal(name)}]", scope)
        assert con.execute(f"SELECT {key} FROM r WHERE id = 0").fetchall() == [(value,)]
    finally:
        con.execute("DROP TABLE r")


numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(deadline=None)
@given(number=numbers)
def test_numbers_compare_exactly_and_whole_ones_print_bare(
    db: duckdb.DuckDBPyConnection, number: float
) -> None:
    props = sql_string(json.dumps({"n": number}))
    written = repr(float(number))
    where = compile_where(f'properties["n"] == {written}', Scope(properties=props))
    key = compile_on('properties["n"]', Scope(properties=props))
    [(kept, text)] = db.execute(f"SELECT {where}, {key}").fetchall()
    assert kept is True
    if isinstance(number, int):
        assert text == str(number)
    else:
        assert float(text) == number
        whole = number.is_integer() and abs(number) < 1e21
        assert (text == str(int(number))) if whole else text.lstrip("-")[0].isdigit()


@st.composite
def iso_texts(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
    form = draw(st.sampled_from(["date", "minutes", "seconds", "fraction"]))
    if form == "date":
        return moment.strftime("%Y-%m-%d")
    sep = draw(st.sampled_from(["T", " "]))
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M")
    if form != "minutes":
        text += moment.strftime(":%S")
    if form == "fraction":
        text += "." + draw(st.text("0123456789", min_size=1, max_size=9))
    offset = draw(st.integers(min_value=-14 * 60, max_value=14 * 60))
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    zones = ["", "Z", f"{sign}{hours:02}:{minutes:02}", f"{sign}{hours:02}{minutes:02}"]
    return text + draw(st.sampled_from([*zones, f"{sign}{hours:02}"]))


@settings(deadline=None)
@given(text=iso_texts())
def test_sql_reads_iso_datetimes_as_python_does(db: duckdb.DuckDBPyConnection, text: str) -> None:
    """A datetime written in an expression and one stored in a property agree."""
    expected = iso_ms(text)
    assert expected is not None
    assert db.execute(f"SELECT {iso_ms_sql(sql_string(text))}").fetchall() == [(expected,)]


def test_non_iso_strings_are_no_datetimes(db: duckdb.DuckDBPyConnection) -> None:
    for text in ("2024-1-1", "20240101", "2024-05-01T", "May 1", "2024-02-30", "1_000"):
        assert db.execute(f"SELECT {iso_ms_sql(sql_string(text))}").fetchall() == [(None,)]
        assert iso_ms(text) is None


ATOMS = st.sampled_from(
    [
        'properties["n"]',
        'properties["s"]',
        'properties["l"]',
        'properties["b"]',
        'properties["z"]',
        'properties["o"]',
        'properties["missing"]',
        'event["$time"]',
        'user["plan"]',
        "1",
        "0",
        "2.5",
        '"abc"',
        '"5"',
        '""',
        "true",
        "false",
        "null",
        '[1, "a", null]',
        "[]",
        "datetime(0)",
        '"2024-05-01T00:00:00"',
    ]
)
UNARY = ["not ", "-", "defined", "boolean", "number", "string", "floor", "round", "ceil"]
BINARY = ["+", "-", "*", "/", "%", "==", "!=", ">", ">=", "<", "<=", "in", "and", "or"]


def expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.tuples(st.sampled_from(UNARY), inner).map(lambda p: f"({p[0]}({p[1]}))")
        binary = st.tuples(inner, st.sampled_from(BINARY), inner).map(
            lambda p: f"({p[0]} {p[1]} {p[2]})"
        )
        return unary | binary

    return st.recursive(ATOMS, extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(text=expressions())
def test_any_expression_compiles_to_sql_duckdb_runs(
    db: duckdb.DuckDBPyConnection, text: str
) -> None:
    """Whatever compiles runs; where is never NULL, and keeps a row only where on
    says ``true`` (on also says it for the string "true", which where does not keep)."""
    try:
        where, on = compile_where(text, EVENTS), compile_on(text, EVENTS)
    except ExpressionError as error:
        assert "needs true or false" in error.message or "too complex" in error.message
        return
    rows = db.execute(f"SELECT id, {where}, {on} {FROM} ORDER BY id").fetchall()
    for _, kept, key in rows:
        assert kept is not None
        assert not kept or key == "true", text
    assert len(rows) == len(ROWS)


@settings(deadline=None)
@given(a=expressions(), b=expressions())
def test_unequal_keeps_exactly_the_rows_equal_drops(
    db: duckdb.DuckDBPyConnection, a: str, b: str
) -> None:
    """``==`` is never undefined, so ``!=`` and ``not ==`` are its complement."""
    try:
        equal = matching(db, f"{a} == {b}")
    except ExpressionError:
        return
    assert matching(db, f"{a} != {b}") == ALL - equal
    assert matching(db, f"not {a} == {b}") == ALL - equal


def test_overflow_gives_infinity_not_an_error(db: duckdb.DuckDBPyConnection) -> None:
    assert matching(db, "1e308 * 10 > 1 and -(1e308 * 10) < 0") == ALL
    assert segments(db, "1e308 * 10")[1] == "inf"
