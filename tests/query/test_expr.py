"""The expression parser: the documented examples, precedence, errors, and limits."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idmerge.errors import BadRequest
from idmerge.query.expr import MAX_DEPTH, MAX_LENGTH, ExpressionError, iso_ms, parse
from idmerge.query.syntax import (
    Binary,
    Call,
    Const,
    ConstList,
    DateTimeConst,
    Expr,
    Logical,
    Negate,
    Not,
    Ref,
)


def sexp(node: Expr) -> str:
    """The tree as a fully parenthesised prefix form, to state precedence plainly."""
    match node:
        case Const():
            return json.dumps(node.value)
        case ConstList():
            return "[" + " ".join(sexp(item) for item in node.items) + "]"
        case Ref():
            return f"{node.source}.{node.name}"
        case DateTimeConst():
            return f"@{node.ms}"
        case Call():
            return f"({node.func} {sexp(node.arg)})"
        case Not():
            return f"(not {sexp(node.operand)})"
        case Negate():
            return f"(neg {sexp(node.operand)})"
        case Binary():
            return f"({node.op} {sexp(node.left)} {sexp(node.right)})"
        case Logical():
            return f"({node.op} {' '.join(sexp(o) for o in node.operands)})"


#: Every example of reference/mixpanel_query.md §5.1, and the tree it must give.
DOCUMENTED = [
    ('properties["$os"]=="Linux"', '(== properties.$os "Linux")'),
    ('properties["account_id"] in [1,2,3,4]', "(in properties.account_id [1.0 2.0 3.0 4.0])"),
    ('user["$email"] == "allison@example.com"', '(== user.$email "allison@example.com")'),
    ('defined(properties["My Prop"])', "(defined properties.My Prop)"),
    ('not defined(properties["city"])', "(not (defined properties.city))"),
    ('event["$time"] >= datetime("2024-05-01T00:00:00")', "(>= event.$time @1714521600000)"),
    ('properties["$time"]>=datetime(1714521600)', "(>= properties.$time @1714521600000)"),
    (
        'properties["$last_seen"] >= "2024-02-01T00:00:00"',
        '(>= properties.$last_seen "2024-02-01T00:00:00")',
    ),
    (
        '("Facebook" in properties["$referring_domain"])',
        '(in "Facebook" properties.$referring_domain)',
    ),
    (
        '(not "Facebook" in properties["$referring_domain"])',
        '(not (in "Facebook" properties.$referring_domain))',
    ),
    (
        '(properties["$browser"] == "Chrome" and not "" in properties["$email"])',
        '(and (== properties.$browser "Chrome") (not (in "" properties.$email)))',
    ),
    (
        '(("Albany" in properties["$city"]) and (defined (properties["$city"])))',
        '(and (in "Albany" properties.$city) (defined properties.$city))',
    ),
]


@pytest.mark.parametrize(("text", "tree"), DOCUMENTED)
def test_documented_examples_parse(text: str, tree: str) -> None:
    assert sexp(parse(text)) == tree


PRECEDENCE = [
    ("1 + 2 * 3", "(+ 1.0 (* 2.0 3.0))"),
    ("(1 + 2) * 3", "(* (+ 1.0 2.0) 3.0)"),
    ("1 - 2 - 3", "(- (- 1.0 2.0) 3.0)"),  # left-associative
    ("8 / 4 / 2", "(/ (/ 8.0 4.0) 2.0)"),
    ("1 % 2 * 3", "(* (% 1.0 2.0) 3.0)"),
    ("-1 * 2", "(* (neg 1.0) 2.0)"),  # unary minus binds tighter than *
    ("- -1", "(neg (neg 1.0))"),
    ("1 - -1", "(- 1.0 (neg 1.0))"),
    ("1 + 2 == 3", "(== (+ 1.0 2.0) 3.0)"),  # arithmetic binds tighter than comparison
    ('"a" + "b" in "abc"', '(in (+ "a" "b") "abc")'),
    ("not 1 == 2", "(not (== 1.0 2.0))"),  # not is looser than comparison
    ("not not true", "(not (not true))"),
    ("true or false and false", "(or true (and false false))"),  # and binds tighter
    ("true and false or true", "(or (and true false) true)"),
    ("not true and false", "(and (not true) false)"),  # not binds tighter than and
    ("true or false or true", "(or true false true)"),  # a run stays flat
    ("1 != 2 and 3 <= 4", "(and (!= 1.0 2.0) (<= 3.0 4.0))"),
    ("-(1 + 2)", "(neg (+ 1.0 2.0))"),
    ("number ( string(1) ) > .5e1", "(> (number (string 1.0)) 5.0)"),
    ("floor(1.5) + round(2) + ceil(3)", "(+ (+ (floor 1.5) (round 2.0)) (ceil 3.0))"),
    ("boolean(null)", "(boolean null)"),
    ("[] == [-1, 'a', true, null]", '(== [] [-1.0 "a" true null])'),
    ("'single' == \"double\"", '(== "single" "double")'),
    (r'"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"', json.dumps('"\\/\b\f\n\r\t\u00e9\U0001f600')),
    (r"'\'q\''", "\"'q'\""),
    ('properties [ "x" ]', "properties.x"),
    ('properties["not"] and properties["and"]', "(and properties.not properties.and)"),
    ('datetime(0) < datetime("1970-01-01T00:00:01Z")', "(< @0 @1000)"),
    ('datetime("2024-05-01T02:00:00+02:00")', "@1714521600000"),
    ("datetime(1.5)", "@1500"),
    ("1e3 == 1000", "(== 1000.0 1000.0)"),
]


@pytest.mark.parametrize(("text", "tree"), PRECEDENCE)
def test_precedence_and_literals(text: str, tree: str) -> None:
    assert sexp(parse(text)) == tree


def test_positions_point_at_the_start_of_each_node_and_at_operators() -> None:
    tree = parse('not properties["a"] + 1 == 2')
    assert isinstance(tree, Not) and tree.pos == 0
    comparison = tree.operand
    assert isinstance(comparison, Binary) and comparison.pos == 24  # the "=="
    plus = comparison.left
    assert isinstance(plus, Binary) and plus.pos == 20
    assert isinstance(plus.left, Ref) and plus.left.pos == 4


#: (text, position, what the message says was wrong)
BAD = [
    ('properties["a"] ==', 18, 'expected a value after "=="'),
    ("", 0, "expected an expression"),
    ("   ", 3, "expected an expression"),
    ('properties["a"] = 1', 16, 'expected "==" (a single "=" is not an operator)'),
    ('properties["a"] ! 1', 16, 'expected "!="'),
    ("properties[a]", 11, 'expected a quoted property name after "[", found "a"'),
    ('properties["a"', 14, 'expected "]" after the property name, found the end'),
    ('properties("a")', 10, 'expected "[" after properties, found "("'),
    ('properties["a"] and', 19, 'expected a value after "and"'),
    ("not", 3, 'expected a value after "not"'),
    ("(1 + 2", 6, 'expected ")" to close the ( at position 0'),
    ("1 + )", 4, 'expected a value after "+", found ")"'),
    ('defined properties["a"]', 8, 'expected "(" after defined, found "properties"'),
    ('defined(properties["a"]', 23, 'expected ")" to close defined('),
    ('"abc', 0, 'expected a closing " for the string that starts here'),
    ("'abc", 0, "expected a closing ' for the string that starts here"),
    ("'it''s'", 4, "expected an operator or the end of the expression, found 's'"),
    (r'"a\qb"', 2, "expected an escape"),
    (r'"\u12"', 1, "expected four hex digits after \\u"),
    (r'"\ud800"', 1, "expected a complete surrogate pair"),
    ("1 == 2 == 3", 7, 'comparisons do not chain, found "=="'),
    ('"a" not in properties["x"]', 4, 'found "not" (write "not" before the whole test)'),
    ("AND", 0, 'unknown name "AND" (keywords are lowercase)'),
    ('Properties["a"]', 0, 'unknown name "Properties" (keywords are lowercase)'),
    ("city == 1", 0, 'unknown name "city"; expected a value (a property is properties["city"])'),
    ("1 2", 2, 'expected an operator or the end of the expression, found "2"'),
    ("1 @ 2", 2, "unexpected character '@'"),
    ('properties["a"].b', 15, "unexpected character '.'"),
    ('[1, properties["a"]]', 4, "expected a string, number, true, false or null in the list"),
    ("[1, 2", 5, 'expected "]" or "," in the list opened at position 0'),
    ('datetime("yesterday")', 9, 'expected an ISO-8601 date-time such as "2024-05-01T00:00:00"'),
    ('datetime("2024-02-30")', 9, "expected an ISO-8601 date-time"),
    ('datetime(properties["a"])', 9, "expected unix seconds or an ISO-8601 string"),
    ("datetime(1e20)", 9, "expected unix seconds between the years 1 and 9999"),
    ("1e999", 0, "expected a finite number"),
    ("in", 0, 'expected a value, found "in"'),
]


@pytest.mark.parametrize(("text", "position", "what"), BAD)
def test_errors_say_what_was_expected_and_where(text: str, position: int, what: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    error = caught.value
    assert error.position == position
    headline, line, caret = error.message.split("\n")
    assert headline.startswith("where: ") and what in headline
    assert headline.endswith(f" at position {position}:")
    assert line == "  " + text and caret == "  " + " " * position + "^"


def test_error_message_reads_as_documented() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse('properties["a"] ==', label="on")
    assert caught.value.message == (
        'on: expected a value after "==" at position 18:\n'
        '  properties["a"] ==\n'
        "                    ^"
    )
    assert isinstance(caught.value, BadRequest) and caught.value.status == 400


def test_caret_shows_the_offending_line_of_a_multiline_expression() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse('properties["a"] == 1 and\n  (properties["b"] ==')
    _, line, caret = caught.value.message.split("\n")
    assert line == '    (properties["b"] =='
    assert caret.index("^") == len(line)


def test_caret_stays_under_the_place_in_a_long_expression() -> None:
    text = " or ".join(f'properties["p{i}"] == {i}' for i in range(60)) + " or @"
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    _, line, caret = caught.value.message.split("\n")
    assert line[caret.index("^")] == "@"
    assert len(line) < 100 and line.startswith("  ...")


def test_length_limit() -> None:
    at_limit = '"' + "a" * (MAX_LENGTH - 2) + '"'
    assert parse(at_limit) == Const(value="a" * (MAX_LENGTH - 2), pos=0)
    with pytest.raises(ExpressionError, match=f"limit is {MAX_LENGTH}"):
        parse(at_limit + " ")


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "(" * n + "1" + ")" * n,
        lambda n: "not " * (n - 1) + "true",
        lambda n: "-" * (n - 1) + "1",
        lambda n: "+".join(["1"] * n),
        lambda n: "number(" * (n - 1) + "1" + ")" * (n - 1),
    ],
    ids=["parentheses", "not", "unary minus", "operator chain", "calls"],
)
def test_depth_limit(make: Callable[[int], str]) -> None:
    parse(make(MAX_DEPTH))
    with pytest.raises(ExpressionError, match=f"nests more than {MAX_DEPTH} levels"):
        parse(make(MAX_DEPTH + 1))


@pytest.mark.parametrize("piece", ["(", "not ", "-", "1+", "defined(", "[", "'"])
def test_pathological_input_never_overflows_the_stack(piece: str) -> None:
    text = (piece * MAX_LENGTH)[: MAX_LENGTH - 1] + "1"
    with pytest.raises(ExpressionError):
        parse(text)


def test_a_long_run_of_or_is_flat_not_deep() -> None:
    text = " or ".join(f'properties["id"] == {i}' for i in range(300))
    tree = parse(text)
    assert isinstance(tree, Logical) and len(tree.operands) == 300 and tree.height == 3


GRAMMAR_PIECES = st.sampled_from(
    [
        'properties["a"]',
        "user['b']",
        "event",
        "[",
        "]",
        "(",
        ")",
        ",",
        "==",
        "!=",
        ">=",
        "<",
        "+",
        "-",
        "*",
        "/",
        "%",
        " and ",
        " or ",
        "not ",
        " in ",
        "1",
        "2.5e3",
        '"s"',
        "'t'",
        "true",
        "null",
        "defined",
        "number",
        "datetime",
        '"2024-01-01"',
        " ",
    ]
)


@given(st.lists(GRAMMAR_PIECES, max_size=25).map("".join))
def test_any_arrangement_of_tokens_parses_or_is_a_400(text: str) -> None:
    try:
        parse(text)
    except ExpressionError as error:
        assert error.position is not None and 0 <= error.position <= len(text)


@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_400(text: str) -> None:
    with contextlib.suppress(ExpressionError):
        parse(text)


def quoted(value: str, quote: str) -> str:
    """``value`` as a string literal in ``quote``s, escaped as a client might."""
    body = json.dumps(value, ensure_ascii=quote == "'")[1:-1]
    return quote + (body.replace("'", "\\'") if quote == "'" else body) + quote


@given(st.text(), st.sampled_from(['"', "'"]))
def test_string_literals_round_trip(value: str, quote: str) -> None:
    tree = parse(f"properties[{quoted(value, quote)}] == {quoted(value, quote)}")
    assert isinstance(tree, Binary)
    assert tree.left == Ref(source="properties", name=value, pos=0)
    assert isinstance(tree.right, Const) and tree.right.value == value


def test_iso_datetimes() -> None:
    assert iso_ms("2024-05-01T00:00:00") == 1714521600000
    assert iso_ms("2024-05-01") == 1714521600000
    assert iso_ms("2024-05-01 00:00") == 1714521600000
    assert iso_ms("2024-05-01T00:00:00.25Z") == 1714521600250
    assert iso_ms("2024-05-01T02:00:00+0200") == 1714521600000
    assert iso_ms("1969-12-31T23:59:59.9995") == -1  # floors, as DuckDB does
    for text in ("20240501", "2024-05-01T00", "May 1 2024", "2024-02-30", "", "2024-05-01T"):
        assert iso_ms(text) is None, text
