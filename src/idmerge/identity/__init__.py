"""The identity engine: the rules of every identity mode, pure and in memory.

It imports nothing from storage, HTTP or the clock. ``engine.py`` holds what all
modes share (dedup, the explain history, replay and split); one module per mode
holds that mode's rules in its docstring and code.
"""

from idmerge.identity.engine import (
    Applied,
    Explanation,
    IdentityEngine,
    failure_properties,
    paused_gc,
    split_entry,
)
from idmerge.identity.model import (
    DEVICE_ID_MODES,
    Event,
    LogColumns,
    LogEntry,
    Mode,
    Op,
    Outcome,
    Reason,
    Resolutions,
    Step,
    new_entry,
)
from idmerge.identity.policy import DEFAULT_JUNK_IDS, DEVICE_PREFIX, Policy

__all__ = [
    "DEFAULT_JUNK_IDS",
    "DEVICE_ID_MODES",
    "DEVICE_PREFIX",
    "Applied",
    "Event",
    "Explanation",
    "IdentityEngine",
    "LogColumns",
    "LogEntry",
    "Mode",
    "Op",
    "Outcome",
    "Policy",
    "Reason",
    "Resolutions",
    "Step",
    "failure_properties",
    "new_entry",
    "paused_gc",
    "split_entry",
]
