"""Splitting a JSON array into its elements a block at a time: every element comes
back whole whatever the block size (strings holding brackets, commas, quotes and
escapes included), and a broken array is a clear error."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idmerge.errors import BadRequest
from idmerge.ingest.jsonarray import array_elements

TEXT = st.text(alphabet=st.sampled_from(list('ab,[]{}"\\: \n\té')), max_size=8)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)


def split(raw: bytes, block: int) -> list[Any]:
    return [json.loads(element) for element in array_elements(io.BytesIO(raw).read, block)]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(VALUES, max_size=6), block=st.integers(1, 40), spaced=st.booleans())
def test_every_element_comes_back_whatever_the_block(
    values: list[Any], block: int, spaced: bool
) -> None:
    raw = json.dumps(values, indent=1 if spaced else None, ensure_ascii=False).encode()
    assert split(b"\n " + raw + b"\n", block) == values


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "the file is empty"),
        (b"  {}", "not a JSON array"),
        (b'[{"a": 1}, {"b": ', "ends early, in element 2"),
        (b'[1, "open string]', "ends early"),
        (b"[1,,2]", "element 2 of the JSON array is empty"),
        (b"[1, 2,]", "ends with a comma"),
        (b"[1] [2]", "more after the JSON array"),
        (b"[1}, 2]", "unbalanced"),
    ],
)
def test_a_broken_array_says_what_is_wrong(raw: bytes, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        split(raw, 3)


def test_an_element_that_is_not_json_is_still_split_off_for_its_decoder() -> None:
    elements = list(array_elements(io.BytesIO(b'[{"a": 1}, {not json}, 3]').read, 4))
    assert elements == [b'{"a": 1}', b"{not json}", b"3"]
