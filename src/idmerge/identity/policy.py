"""Per-project identity settings: the limits and the junk-id list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from idmerge.identity.model import Mode

DEVICE_PREFIX: Final = "$device:"

#: The union of the ids Mixpanel's /import, PostHog and Amplitude refuse.
DEFAULT_JUNK_IDS: tuple[str, ...] = (
    "anon",
    "anonymous",
    "guest",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "distinctid",
    "distinct_id",
    "id",
    "not_authenticated",
    "email",
    "true",
    "false",
    "nan",
    "<nil>",
    "[object object]",
    "0",
    "-1",
    "[]",
    "{}",
    "00000000-0000-0000-0000-000000000000",
)

#: Largest cluster in ``original`` mode (Mixpanel documents 500) and in ``cdp``
#: mode (Segment Unify's 1,000 identifiers per profile).
DEFAULT_MAX_CLUSTER_IDS = {Mode.ORIGINAL: 500, Mode.CDP: 1000}
#: Most merges one ``cdp`` cluster may go through (Segment Unify's 100).
DEFAULT_MAX_MERGES = {Mode.CDP: 100}
MAX_ID_LENGTH: Final = 255
# printable ASCII but the space, "!" to "~": what ``str.strip`` never removes
_PRINTABLE_FIRST: Final = 0x21
_PRINTABLE_LAST: Final = 0x7E


def junk_set(values: Iterable[str]) -> frozenset[str]:
    """Normalise a junk list: lower case, plus each value in single and double quotes."""
    out: set[str] = set()
    for value in values:
        v = value.strip().lower()
        out.update((v, f"'{v}'", f'"{v}"'))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules' parameters for one project."""

    mode: Mode
    max_cluster_ids: int | None = None
    max_merges: int | None = None
    junk_ids: frozenset[str] = field(default_factory=lambda: junk_set(DEFAULT_JUNK_IDS))
    max_id_length: int = MAX_ID_LENGTH
    #: the lengths and first characters (both cases, by code point) of the junk ids:
    #: most ids differ in one, which settles ``is_junk`` without building a stripped,
    #: lower-case copy. Sound only while every junk id is ASCII (``_ascii_junk``):
    #: then an id whose lower case is junk has the same length (of all characters
    #: only the Kelvin sign lowers to ASCII, one for one), and if it starts with an
    #: ASCII character, its lower case starts with that character's.
    _junk_lengths: frozenset[int] = field(init=False, repr=False, compare=False)
    _junk_starts: frozenset[int] = field(init=False, repr=False, compare=False)
    _ascii_junk: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        junk = [x for x in self.junk_ids if x]
        # a case may be longer than one character ("ß" upper-cases to "SS"); such a
        # list is not ASCII, and the fast path that reads these is off for it anyway
        starts = {ord(c) for x in junk for c in x[0].lower() + x[0].upper()}
        object.__setattr__(self, "_junk_lengths", frozenset(len(x) for x in junk))
        object.__setattr__(self, "_junk_starts", frozenset(starts))
        object.__setattr__(self, "_ascii_junk", all(x.isascii() for x in junk))

    @classmethod
    def for_mode(
        cls,
        mode: Mode,
        *,
        max_cluster_ids: int | None = None,
        max_merges: int | None = None,
        junk_ids: Iterable[str] | None = None,
    ) -> Policy:
        """The documented defaults for ``mode``, with any limit overridden."""
        return cls(
            mode=mode,
            max_cluster_ids=(
                DEFAULT_MAX_CLUSTER_IDS.get(mode) if max_cluster_ids is None else max_cluster_ids
            ),
            max_merges=DEFAULT_MAX_MERGES.get(mode) if max_merges is None else max_merges,
            junk_ids=junk_set(DEFAULT_JUNK_IDS if junk_ids is None else junk_ids),
        )

    def is_junk(self, distinct_id: str) -> bool:
        """True for an empty, blank or placeholder id (a ``$device:`` prefix is ignored)."""
        start = len(DEVICE_PREFIX) if distinct_id.startswith(DEVICE_PREFIX) else 0
        end = len(distinct_id)
        if start < end and self._ascii_junk:
            # printable ASCII at both ends: nothing to strip, and the first character
            # is its lower case's (compiled, ``ord(s[i])`` makes no object)
            first, last = ord(distinct_id[start]), ord(distinct_id[end - 1])
            if (
                _PRINTABLE_FIRST <= first <= _PRINTABLE_LAST
                and _PRINTABLE_FIRST <= last <= _PRINTABLE_LAST
                and (end - start not in self._junk_lengths or first not in self._junk_starts)
            ):
                return False
        stripped = distinct_id[start:].strip()
        return not stripped or stripped.lower() in self.junk_ids

    def id_problem(self, value: object) -> bool:
        """True when ``value`` cannot be an id at all: not a string, or too long."""
        return type(value) is not str or len(value) > self.max_id_length
