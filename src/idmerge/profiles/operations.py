"""The property operations of ``/engage`` and ``/groups``, as pure functions.

Each operation is first computed, then applied, as PostHog's person updates are:
:func:`compute_changes` says which keys take which values and which keys go, reading
the properties without touching them; :func:`apply_changes` builds the new dict.
Nothing here mutates its input, so a profile can be re-folded from its updates at any
time. ``$delete`` is no property change (the profile goes): the fold (``book.py``)
handles it, and also decides which operations create a missing profile.

The operations (``reference/mixpanel.md`` §2.4), with the points Mixpanel leaves open
decided here:

- ``$set`` overwrites each given key.
- ``$set_once`` sets only the keys the profile does not have; a key holding ``null``
  is present.
- ``$add`` adds a number; a missing key, or one holding ``null``, counts as 0.
  **Decision:** an existing value that is not a number, or an increment that is not
  one, leaves the key unchanged (booleans are not numbers); an int plus an int stays
  an int.
- ``$union`` adds each given value to the key's list unless it is there already,
  keeping the list's order, then the given order; an existing scalar is first promoted
  to a one-element list, ``null`` or a missing key to an empty one; a given scalar
  counts as a one-element list.
- ``$append`` appends the value as one item (no deduplication), promoting as
  ``$union`` does.
- ``$remove`` removes **every** occurrence of the value from the key's list; a
  missing key or a value that is not a list is left alone.
- ``$unset`` drops the named keys (a list of names; one name, or an object whose keys
  name them, are taken too).

List items compare by JSON value: ``1`` and ``1.0`` are the same item, ``1`` and
``true`` are not. An argument of the wrong shape (not an object where one is due)
changes nothing: the wire layer refuses those before they are stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from idmerge.profiles.model import ProfileOp

Properties = dict[str, Any]

#: The property every update not sent with ``$ignore_time`` sets to its time.
LAST_SEEN = "$last_seen"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Changes(NamedTuple):
    """What one operation does to a properties dict: computed, not yet applied."""

    set: Mapping[str, Any]  # key -> its new value
    unset: frozenset[str] = frozenset()  # keys to drop (applied before ``set``)


NO_CHANGES = Changes({})


def compute_changes(properties: Mapping[str, Any], op: ProfileOp, value: Any) -> Changes:
    """The changes ``op`` with argument ``value`` makes to ``properties``."""
    if op is ProfileOp.DELETE:
        raise ValueError("$delete removes the whole profile, not properties: fold it")
    if op is ProfileOp.UNSET:
        return Changes({}, frozenset(name for name in _names(value) if name in properties))
    if not isinstance(value, Mapping):
        return NO_CHANGES
    return Changes(_COMPUTE[op](properties, value))


def apply_changes(properties: Mapping[str, Any], changes: Changes) -> Properties:
    """A new dict: ``properties`` less ``changes.unset``, then with ``changes.set``."""
    if changes.unset:
        new = {k: v for k, v in properties.items() if k not in changes.unset}
    else:
        new = dict(properties)
    new.update(changes.set)
    return new


def apply_operation(properties: Mapping[str, Any], op: ProfileOp, value: Any) -> Properties:
    """Compute, then apply, one operation: the new properties."""
    return apply_changes(properties, compute_changes(properties, op, value))


def last_seen_text(time: int) -> str:
    """``$last_seen`` as Mixpanel writes dates: ISO 8601 in UTC, to the second, no
    zone suffix (``2024-05-01T12:00:00``)."""
    moment = _EPOCH + timedelta(milliseconds=time)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# -- one function per operation: (properties, argument) -> {key: new value} ---------


def _set(properties: Mapping[str, Any], argument: Mapping[str, Any]) -> Properties:
    return dict(argument)


def _set_once(properties: Mapping[str, Any], argument: Mapping[str, Any]) -> Properties:
    return {k: v for k, v in argument.items() if k not in properties}


def _add(properties: Mapping[str, Any], argument: Mapping[str, Any]) -> Properties:
    new = {}
    for key, increment in argument.items():
        current = properties.get(key)
        if current is None:
            current = 0
        if _is_number(current) and _is_number(increment):
            new[key] = current + increment
    return new


def _union(properties: Mapping[str, Any], argument: Mapping[str, Any]) -> Properties:
    new = {}
    for key, given in argument.items():
        current = properties.get(key)
        items = _as_list(current)
        seen = {_identity(item) for item in items}
        for item in _as_list(given):
            identity = _identity(item)
            if identity not in seen:
                seen.add(identity)
                items.append(item)
        if not isinstance(current, list) or len(items) != len(current):
            new[key] = items
    return new


def _append(properties: Mapping[str, Any], argument: Mapping[str, Any]) -> Properties:
    return {key: [*_as_list(properties.get(key)), item] for key, item in argument.items()}


def _remove(properties: Mapping[str, Any], argument: Mapping[str, Any]) -> Properties:
    new = {}
    for key, item in argument.items():
        current = properties.get(key)
        if isinstance(current, list):
            gone = _identity(item)
            kept = [x for x in current if _identity(x) != gone]
            if len(kept) != len(current):
                new[key] = kept
    return new


_COMPUTE: dict[ProfileOp, Callable[[Mapping[str, Any], Mapping[str, Any]], Properties]] = {
    ProfileOp.SET: _set,
    ProfileOp.SET_ONCE: _set_once,
    ProfileOp.ADD: _add,
    ProfileOp.UNION: _union,
    ProfileOp.APPEND: _append,
    ProfileOp.REMOVE: _remove,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_list(value: Any) -> list[Any]:
    """A fresh list: the value's items, the value alone, or nothing for null."""
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]


def _identity(value: Any) -> tuple[str, Any]:
    """A hashable stand-in that is equal exactly when two JSON values are."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)  # 1 == 1.0 and both hash alike
    if isinstance(value, str) or value is None:
        return ("text", value)
    return ("json", json.dumps(value, sort_keys=True, default=repr))


def _names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping | list | tuple):
        return (name for name in value if isinstance(name, str))
    return ()
