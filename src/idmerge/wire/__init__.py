"""The wire formats: request bodies in, engine events and profile updates out.

Pure functions over bytes and decoded JSON, shared by the server and the CLI; no HTTP
objects, no storage, no clock (callers pass the time).

- :mod:`~idmerge.wire.body`: gzip, form fields, Mixpanel's ``data``, JSON and NDJSON.
- :mod:`~idmerge.wire.mixpanel`: ``/import`` and ``/track`` records, one
  :class:`Rejection` per refused record (:mod:`~idmerge.wire.engage` for ``/engage``
  and ``/groups``).
- :mod:`~idmerge.wire.segment`: Segment / Customer.io messages, all or nothing.
- :mod:`~idmerge.wire.values`: the property limits and checks both formats share.
"""

from idmerge.wire.body import as_records, decode_data, form_fields, gunzip, json_records
from idmerge.wire.engage import profile_updates
from idmerge.wire.mixpanel import import_events, record_token, track_events
from idmerge.wire.results import EventBatch, Rejection, RejectReason
from idmerge.wire.segment import SegmentBatch, segment_batch
from idmerge.wire.values import DEFAULT_LIMITS, Limits

__all__ = [
    "DEFAULT_LIMITS",
    "EventBatch",
    "Limits",
    "RejectReason",
    "Rejection",
    "SegmentBatch",
    "as_records",
    "decode_data",
    "form_fields",
    "gunzip",
    "import_events",
    "json_records",
    "profile_updates",
    "record_token",
    "segment_batch",
    "track_events",
]
