"""Small deterministic event streams for storage and ingestion tests (not the engine's
own tests, which build their cases by hand and with Hypothesis)."""

from __future__ import annotations

import random
import uuid

from idmerge.identity import Event, Mode


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def mixed_stream(mode: Mode, n: int, *, seed: int = 1, users: int = 40) -> list[Event]:
    """``n`` events mixing anonymous activity, logins, shared devices, aliases,
    merges and junk ids, in the wire shapes of ``mode``."""
    rng = random.Random(seed)
    devices = [guid(rng) for _ in range(users * 2)]
    names = [f"user{i}" for i in range(users)]
    events: list[Event] = []
    for i in range(n):
        t = 1_700_000_000_000 + i * 1000
        dev, user = rng.choice(devices), rng.choice(names)
        other = rng.choice([*names, "undefined", "null"])
        roll = rng.random()
        insert_id = f"e{seed}-{i}"
        if mode in (Mode.SIMPLIFIED, Mode.CDP):
            if roll < 0.4:
                props = {"$device_id": dev}
            elif roll < 0.75:
                props = {"$device_id": dev, "$user_id": user}
            elif roll < 0.85 and mode is Mode.CDP:
                events.append(
                    Event("$create_alias", {"alias": user, "distinct_id": other}, t, insert_id)
                )
                continue
            elif roll < 0.9:
                props = {"$device_id": rng.choice(["null", dev]), "$user_id": other}
            else:
                props = {"distinct_id": user}
            events.append(Event(rng.choice(["view", "click", "buy"]), props, t, insert_id))
        elif mode is Mode.ORIGINAL:
            if roll < 0.4:
                events.append(Event("view", {"distinct_id": dev}, t, insert_id))
            elif roll < 0.6:
                props = {"distinct_id": user, "$anon_distinct_id": dev}
                events.append(Event("$identify", props, t, insert_id))
            elif roll < 0.75:
                props = {"distinct_id": user, "alias": other}
                events.append(Event("$create_alias", props, t, insert_id))
            elif roll < 0.85:
                props = {"$distinct_ids": [user, other]}
                events.append(Event("$merge", props, t, insert_id, trusted=roll < 0.8))
            else:
                events.append(Event("buy", {"distinct_id": user}, t, insert_id))
        elif roll < 0.25:
            props = {"distinct_id": user, "alias": rng.choice([*devices[:users], other])}
            events.append(Event("$create_alias", props, t, insert_id))
        else:
            events.append(Event("view", {"distinct_id": rng.choice([dev, user])}, t, insert_id))
        if rng.random() < 0.05 and events:
            events.append(events[rng.randrange(len(events))])  # a retried delivery
    return events
