"""Bytes and transports: gzip, form fields, Mixpanel's ``data``, JSON and NDJSON.

Spec: ingestion-api.md (transports of /track, /import, /engage); mixpanel.md §2.1-2.2.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idmerge.errors import BadRequest, PayloadTooLarge
from idmerge.wire.body import (
    as_records,
    decode_data,
    form_fields,
    gunzip,
    json_records,
    percent_decoded,
)

# JSON values as a decoder gives them back: finite floats, no lone surrogates
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
records = st.lists(st.dictionaries(st.text(), json_values, max_size=5), max_size=6)


# -- gunzip -------------------------------------------------------------------------


def test_gunzip_gives_back_the_original_bytes():
    assert gunzip(gzip.compress(b'[{"event": "x"}]'), max_bytes=100) == b'[{"event": "x"}]'


def test_gunzip_joins_concatenated_members():
    """``gzip`` and some proxies write several members; they decode as one body."""
    assert gunzip(gzip.compress(b"abc") + gzip.compress(b"def"), max_bytes=6) == b"abcdef"


def test_gunzip_accepts_exactly_the_limit():
    assert len(gunzip(gzip.compress(b"a" * 1000), max_bytes=1000)) == 1000


def test_gunzip_refuses_one_byte_past_the_limit_naming_it():
    with pytest.raises(PayloadTooLarge, match="1000 bytes"):
        gunzip(gzip.compress(b"a" * 1001), max_bytes=1000)


def test_gunzip_caps_a_bomb_without_expanding_it():
    """Ten megabytes of zeros compress to ~10 KB; the cap stops the expansion early."""
    bomb = gzip.compress(bytes(10_000_000))
    with pytest.raises(PayloadTooLarge):
        gunzip(bomb, max_bytes=1024)


def test_gunzip_counts_the_limit_across_members():
    with pytest.raises(PayloadTooLarge):
        gunzip(gzip.compress(b"abc") + gzip.compress(b"def"), max_bytes=5)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not gzip at all", "incorrect header check"),
        (gzip.compress(b"abcdef")[:-6], "ends early"),
        (b"", "ends early"),
        (zlib.compress(b"abc"), "incorrect header check"),  # zlib, not gzip
    ],
    ids=["garbage", "truncated", "empty", "zlib"],
)
def test_gunzip_refuses_corrupt_input(body, words):
    with pytest.raises(BadRequest, match=f"body is not valid gzip: .*{words}"):
        gunzip(body, max_bytes=1000)


# -- form_fields ----------------------------------------------------------------------


def test_form_fields_decodes_percent_escapes_and_plus():
    body = b"data=%7B%22event%22%3A%22caf%C3%A9%20x%22%7D&verbose=1&ip=0&name=a+b"
    assert form_fields(body) == {
        "data": '{"event":"café x"}',
        "verbose": "1",
        "ip": "0",
        "name": "a b",
    }


#: Bytes that make percent decoding interesting: escapes, quoted-printable's own
#: markers (``=``, line breaks, ``_``), hex digits of both cases, non-ASCII.
_ESCAPE_BITS = st.sampled_from(
    [
        b"%",
        b"=",
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b"_",
        b"+",
        b"0",
        b"a",
        b"F",
        b"g",
        b"3D",
        b"\xc3\xa9",
    ]
)


@given(st.lists(st.one_of(_ESCAPE_BITS, st.binary(max_size=4)), max_size=30).map(b"".join))
@settings(max_examples=2000)
def test_percent_decoding_is_the_standard_one(raw: bytes) -> None:
    assert percent_decoded(raw) == unquote_to_bytes(raw)


@given(st.binary(max_size=200))
def test_percent_decoding_undoes_percent_encoding(data: bytes) -> None:
    assert percent_decoded(quote_from_bytes(data, safe="").encode()) == data


@pytest.mark.parametrize(
    "raw",
    [
        b"%",
        b"abc%",
        b"%4",
        b"%zz",
        b"% 41",
        b"%\nx",
        b"%\r\nx",
        b"a=b%41",
        b"=41",
        b"%2541",
        b"%3d%3D",
        b"=\n%zz%41",  # a soft line break and an invalid escape that cancel out in length
    ],
)
def test_percent_decoding_edge_cases(raw: bytes) -> None:
    """Where quoted-printable decoding would differ: the standard answer still."""
    assert percent_decoded(raw) == unquote_to_bytes(raw)


def test_form_fields_reads_a_query_string_given_as_text():
    assert form_fields("data=abc&_=1700000000000&img") == {
        "data": "abc",
        "_": "1700000000000",
        "img": "",
    }


def test_form_fields_keeps_the_last_of_a_repeated_field():
    assert form_fields(b"a=1&a=2&&b=3") == {"a": "2", "b": "3"}


def test_form_fields_keeps_an_equals_sign_inside_a_value():
    """Padded base64 ends in ``=``; only the first ``=`` separates name and value."""
    assert form_fields(b"data=eyJhIjoxfQ==") == {"data": "eyJhIjoxfQ=="}


def test_form_fields_refuses_a_value_that_is_not_utf8_naming_the_field():
    with pytest.raises(BadRequest, match="form field 'data' is not valid UTF-8"):
        form_fields(b"verbose=1&data=%FF%FE")


def test_form_fields_refuses_a_name_that_is_not_utf8():
    with pytest.raises(BadRequest, match="form field name is not valid UTF-8"):
        form_fields(b"%FF=1")


# -- decode_data ----------------------------------------------------------------------


# chosen so that its base64 holds both "+" and "/", which the URL-safe alphabet and
# form decoding change
EVENTS = [{"event": "Sign In", "properties": {"token": "T", "plan": "~~~>>>???"}}]
EVENTS_JSON = json.dumps(EVENTS).encode()


@pytest.mark.parametrize(
    "data",
    [
        EVENTS_JSON.decode(),
        base64.b64encode(EVENTS_JSON).decode(),
        base64.b64encode(EVENTS_JSON).decode().rstrip("="),
        base64.urlsafe_b64encode(EVENTS_JSON).decode(),
        base64.urlsafe_b64encode(EVENTS_JSON).decode().rstrip("="),
        base64.b64encode(EVENTS_JSON).decode().replace("+", " "),
        base64.encodebytes(EVENTS_JSON).decode(),  # wrapped at 76 columns
        "  " + EVENTS_JSON.decode() + "\n",
    ],
    ids=[
        "json",
        "base64",
        "unpadded",
        "url-safe",
        "url-safe-unpadded",
        "plus-as-space",
        "wrapped",
        "spaces",
    ],
)
def test_decode_data_reads_every_form_the_sdks_send(data):
    assert decode_data(data) == EVENTS


def test_the_base64_forms_above_really_differ():
    standard = base64.b64encode(EVENTS_JSON).decode()
    assert "+" in standard and "/" in standard


def test_decode_data_reads_a_single_object():
    assert decode_data('{"event":"x"}') == {"event": "x"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not base64!", "data is neither JSON nor base64-encoded JSON"),
        ("a", "data is neither JSON nor base64-encoded JSON"),
        (base64.b64encode(b"hello world").decode(), "data decodes from base64 but is not JSON: "),
        (base64.b64encode(b'{"a":').decode(), "data decodes from base64 but is not JSON: "),
        ('{"event": "x"', "data is not valid JSON: "),
        ("[1, 2,]", "data is not valid JSON: "),
        ("", "data is empty"),
        ("   ", "data is empty"),
    ],
)
def test_decode_data_says_which_form_failed(data, message):
    with pytest.raises(BadRequest) as caught:
        decode_data(data)
    assert caught.value.message.startswith(message)


def test_decode_data_gives_the_position_of_a_json_error():
    with pytest.raises(BadRequest, match="line 1 column 11"):
        decode_data('{"event": x}')


@given(records)
def test_decode_data_round_trips_base64_of_any_json(values):
    text = json.dumps(values)
    assert decode_data(base64.b64encode(text.encode()).decode()) == values
    assert decode_data(text) == values


# -- json_records -----------------------------------------------------------------


def test_json_records_of_an_array_are_its_items():
    assert json_records(b'[{"a": 1}, {"b": 2}]') == [{"a": 1}, {"b": 2}]


def test_json_records_of_a_single_object_is_a_list_of_it():
    assert json_records(b'{"a": 1}') == [{"a": 1}]


def test_json_records_reads_ndjson_skipping_blank_lines_and_carriage_returns():
    body = b'{"a": 1}\r\n\r\n  \n{"b": 2}\n[3]\n'
    assert json_records(body) == [{"a": 1}, {"b": 2}, [3]]


def test_json_records_skips_a_utf8_byte_order_mark():
    assert json_records(b'\xef\xbb\xbf[{"a": 1}]') == [{"a": 1}]


@given(records)
def test_json_records_of_ndjson_equal_those_of_the_array(values):
    ndjson = "\n".join(json.dumps(value) for value in values).encode()
    array = json.dumps(values).encode()
    assert json_records(array) == values
    if values:
        assert json_records(ndjson) == values


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body is empty"),
        (b" \n ", "body is empty"),
        (b"[1, 2", "body is not valid JSON: Expecting ',' delimiter at line 1 column 6"),
        (
            b'[{"a": 1},\n {"b" 2}]',
            "body is not valid JSON: Expecting ':' delimiter at line 2 column 7",
        ),
        (
            b'{"a": 1}\n{"b": 2}\n{"c": }\n',
            "body is not valid JSON: Expecting value at line 3 column 7",
        ),
        (
            b'{"a": 1}\n{"b": 2} 3\n',
            "body is not valid JSON: more text follows the first value at line 2",
        ),
        (b"[NaN]", "body is not valid JSON: NaN is not a JSON value"),
        (b"[1e999]", "body is not valid JSON: the number 1e999 is out of range"),
        (b"[" * 100_000, "body is not valid JSON: arrays and objects are nested too deeply"),
        (
            b"[\xff]",
            "body is not valid JSON: Expecting value at line 1 column 2 "
            "(and it is not valid UTF-8 from byte 1)",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "truncated",
        "line-2",
        "ndjson-line-3",
        "ndjson-trailing",
        "nan",
        "infinity",
        "deep",
        "bad-byte-outside-strings",
    ],
)
def test_json_records_refuses_invalid_json_saying_where(body, message):
    with pytest.raises(BadRequest) as caught:
        json_records(body)
    assert caught.value.message.startswith(message)


def test_json_records_passes_strings_that_are_not_utf8_on_to_the_record_checks():
    """A bad byte or a lone surrogate escape inside a string fails that record, not the
    body (ingestion-api.md: "strings must be valid UTF-8 ... a failed record")."""
    assert json_records(b'[{"a": "x\xffy"}, {"b": "\\ud800"}, {"c": "ok"}]') == [
        {"a": "x\udcffy"},
        {"b": "\ud800"},
        {"c": "ok"},
    ]


def test_json_records_keeps_a_surrogate_pair_escape_as_one_character():
    assert json_records(b'["\\ud83d\\ude00"]') == ["\U0001f600"]


# -- as_records -------------------------------------------------------------------------


def test_as_records_wraps_one_object_and_passes_an_array():
    assert as_records({"a": 1}) == [{"a": 1}]
    assert as_records([{"a": 1}, 2]) == [{"a": 1}, 2]


@pytest.mark.parametrize(
    ("value", "kind"), [("x", "a string"), (1, "a number"), (None, "null"), (True, "a boolean")]
)
def test_as_records_refuses_anything_else(value: Any, kind: str):
    with pytest.raises(
        BadRequest, match=f"expected a JSON object or an array of objects, not {kind}"
    ):
        as_records(value)
