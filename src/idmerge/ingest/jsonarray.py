"""Reading the elements of one big JSON array a block at a time, in constant memory:
the bytes of each element, split at the array's top-level commas (tracking strings,
their escapes, and nesting), for a JSON decoder to read one by one.

Only the structure is checked here (an array, balanced, nothing after it); each
element's own validity is its decoder's business, so one bad element costs one
record, not the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from idmerge.errors import BadRequest

BLOCK = 1 << 20
_OUTSIDE = re.compile(rb'["\[\]{},]')  # what matters outside a string
_INSIDE = re.compile(rb'["\\]')  # what matters inside one
_WHITESPACE = b" \t\r\n"


def array_elements(read: Callable[[int], bytes], block: int = BLOCK) -> Iterator[bytes]:
    """The bytes of each element of the JSON array ``read`` returns (``read(n)``
    gives up to ``n`` more bytes, ``b""`` at the end), whitespace stripped."""
    buf = read(block).lstrip(_WHITESPACE)
    while not buf:
        more = read(block)
        if not more:
            raise BadRequest("the file is empty")
        buf = more.lstrip(_WHITESPACE)
    if buf[:1] != b"[":
        raise BadRequest("the file is not a JSON array")
    start = pos = 1  # the current element begins at start; the scan is at pos
    depth, in_string, elements = 0, False, 0
    while True:
        found = (_INSIDE if in_string else _OUTSIDE).search(buf, pos)
        if found is None or (in_string and found[0] == b"\\" and found.end() == len(buf)):
            more = read(block)  # the element goes on past the block (or an escape does)
            if not more:
                raise BadRequest(f"the JSON array ends early, in element {elements + 1}")
            pos = found.start() if found is not None else len(buf)
            buf, pos, start = buf[start:] + more, pos - start, 0
            continue
        token, pos = found[0], found.end()
        if in_string:
            if token == b"\\":
                pos += 1  # the escaped character, whatever it is
            else:
                in_string = False
        elif token == b'"':
            in_string = True
        elif token in (b"[", b"{"):
            depth += 1
        elif token == b"," and depth == 0:
            element = buf[start : found.start()].strip(_WHITESPACE)
            if not element:
                raise BadRequest(f"element {elements + 1} of the JSON array is empty")
            elements += 1
            yield element
            start = pos
        elif token in (b"]", b"}") and depth > 0:
            depth -= 1
        elif token == b"]":  # the array's own end
            element = buf[start : found.start()].strip(_WHITESPACE)
            if element:
                yield element
            elif elements:
                raise BadRequest("the JSON array ends with a comma")
            _expect_end(buf[pos:], read, block)
            return
        elif token != b",":
            raise BadRequest(f"an unbalanced '}}' in element {elements + 1} of the JSON array")


def _expect_end(rest: bytes, read: Callable[[int], bytes], block: int) -> None:
    while True:
        if rest.strip(_WHITESPACE):
            raise BadRequest("there is more after the JSON array")
        rest = read(block)
        if not rest:
            return
