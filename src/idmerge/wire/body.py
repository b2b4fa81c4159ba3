"""Request bodies as bytes: gzip, form encoding, Mixpanel's ``data`` parameter, JSON.

Everything here works on bytes and strings, never on HTTP objects, so the server and
the CLI ``import`` share it. Each function raises :class:`~idmerge.errors.BadRequest`
(or :class:`~idmerge.errors.PayloadTooLarge`) with a message that says what was wrong
and where; nothing returns a half-decoded body.

Strings that are not valid UTF-8 *inside* JSON (raw bad bytes, or a lone surrogate
escape such as ``"\\ud800"``) do not fail the body: the spec makes them a failed
record on ``/import`` and a refused event on ``/track``, so they come through as lone
surrogates for the record checks to refuse (see :mod:`idmerge.wire.jsontext`).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any
from urllib.parse import unquote_to_bytes

from idmerge.errors import BadRequest, PayloadTooLarge
from idmerge.wire.jsontext import InvalidJSON, loads
from idmerge.wire.values import kind_of

_GZIP = 16 + zlib.MAX_WBITS  # tells zlib to expect (and check) the gzip header
_BOM = b"\xef\xbb\xbf"
_URL_SAFE = str.maketrans("-_", "+/")


def gunzip(body: bytes, *, max_bytes: int) -> bytes:
    """``body`` decompressed, refusing to produce more than ``max_bytes``.

    The cap applies while decompressing, so a small bomb never gets to expand.
    Concatenated gzip members (which ``gzip`` and some proxies produce) are joined.
    """
    out = bytearray()
    data = body
    while True:
        stream = zlib.decompressobj(_GZIP)
        try:
            # one byte more than allowed is enough to know the limit is passed
            out += stream.decompress(data, max_bytes + 1 - len(out))
        except zlib.error as error:
            raise BadRequest(f"body is not valid gzip: {error}") from None
        if len(out) > max_bytes:
            raise PayloadTooLarge(f"body exceeds the limit of {max_bytes} bytes once decompressed")
        if not stream.eof:
            raise BadRequest("body is not valid gzip: the compressed stream ends early")
        data = stream.unused_data
        if not data:
            return bytes(out)


def form_fields(body: bytes | str) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` body or a query string.

    A field given twice keeps its last value. Percent escapes are decoded as bytes
    and the result must be UTF-8.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    fields: dict[str, str] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_raw, _, value_raw = pair.partition(b"=")
        name = _form_text(name_raw, None)
        fields[name] = _form_text(value_raw, name)
    return fields


def _form_text(raw: bytes, field: str | None) -> str:
    decoded = percent_decoded(raw.replace(b"+", b" "))
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        what = "a form field name" if field is None else f"form field {field!r}"
        shown = decoded.decode("utf-8", "replace")[:40]
        raise BadRequest(f"{what} is not valid UTF-8: {shown!r}") from None


def percent_decoded(raw: bytes) -> bytes:
    """``urllib.parse.unquote_to_bytes(raw)``, about 15 times faster on a form body.

    An SDK's form-encoded JSON has a percent escape every six bytes or so, and the
    standard decoder runs Python code for each: it was a third of the server's work
    on ``/track``. Quoted-printable decoding (C code) does the same with ``=``, so
    ``%`` becomes ``=`` and ``binascii.a2b_qp`` decodes; where the two would differ
    (a raw ``=``, a ``%`` before a line break or at the end, an invalid escape, which
    the length of the result reveals), the standard decoder answers instead.
    """
    if b"%" not in raw:
        return raw
    if b"=" not in raw and b"%\n" not in raw and b"%\r" not in raw and raw[-1:] != b"%":
        decoded = binascii.a2b_qp(raw.replace(b"%", b"="))
        if len(decoded) == len(raw) - 2 * raw.count(b"%"):  # every escape was valid
            return decoded
    return unquote_to_bytes(raw)


def decode_data(value: str) -> Any:
    """The JSON value held by Mixpanel's ``data`` parameter.

    ``data`` is JSON text or base64 of it: the standard or URL-safe alphabet, padded
    or not, possibly wrapped over lines, and possibly with ``+`` turned into spaces
    by a form decoder that ran first.
    """
    text = value.strip()
    if not text:
        raise BadRequest("data is empty")
    try:
        return loads(text)
    except InvalidJSON as error:
        # base64 never starts like this, so the sender meant JSON
        if text[0] in '{["':
            raise BadRequest(f"data is not valid JSON: {error.detail}") from None
    raw = _from_base64(text)
    if raw is None:
        raise BadRequest("data is neither JSON nor base64-encoded JSON")
    try:
        return loads(raw)
    except InvalidJSON as error:
        raise BadRequest(f"data decodes from base64 but is not JSON: {error.detail}") from None


def _from_base64(text: str) -> bytes | None:
    compact = "".join(text.replace(" ", "+").split()).translate(_URL_SAFE).rstrip("=")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def json_records(body: bytes) -> list[Any]:
    """The values in a JSON body: an array's items, a single value, or one value per
    non-blank line of newline-delimited JSON."""
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    if not body.strip():
        raise BadRequest("body is empty")
    try:
        value = loads(body)
    except InvalidJSON as error:
        if error.trailing:
            return _ndjson(body)
        raise BadRequest(f"body is not valid JSON: {error.detail}{_utf8_note(body)}") from None
    return value if type(value) is list else [value]


def _ndjson(body: bytes) -> list[Any]:
    records = []
    for number, line in enumerate(body.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            records.append(loads(line))
        except InvalidJSON as error:
            where = f"line {number}" + (f" column {error.column}" if error.column else "")
            detail = f"{error.problem} at {where}{_utf8_note(line)}"
            raise BadRequest(f"body is not valid JSON: {detail}") from None
    return records


def _utf8_note(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f" (and it is not valid UTF-8 from byte {error.start})"
    return ""


def as_records(value: Any) -> list[Any]:
    """One JSON object, or an array, as a list of records."""
    if type(value) is list:
        return value
    if type(value) is dict:
        return [value]
    raise BadRequest(f"expected a JSON object or an array of objects, not {kind_of(value)}")
