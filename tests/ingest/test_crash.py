"""Kill -9 during ingestion: what was acknowledged is on disk, and the identity state
on disk agrees with the events on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from idmerge.identity import IdentityEngine
from idmerge.ingest import ProjectWriter
from idmerge.projects import get_project
from idmerge.storage.duckdb import open_store

CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
from streams import mixed_stream
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.projects import create_project
from idmerge.storage.duckdb import open_store

store = open_store(sys.argv[1])
project = create_project(store, "app", Mode.ORIGINAL, now=0)
writer = ProjectWriter(store, project)
events = mixed_stream(Mode.ORIGINAL, 200_000, seed=9, users=2000)
for start in range(0, len(events), 100):
    writer.ingest(events[start:start + 100], received_at=0)
    print(writer.next_seq - 1, flush=True)  # acknowledged up to this sequence number
"""


def test_sigkill_mid_stream_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Every acknowledged batch survives; the log and mapping match the stored events."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), str(Path(__file__).parents[1])],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = -1
    deadline = time.monotonic() + 60
    while acknowledged < 3000 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acknowledged = int(line)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert acknowledged >= 3000, "the child should have acknowledged some batches"

    store = open_store(tmp_path)
    project = get_project(store, "app")
    # events and the warnings of refused identity events share the sequence
    event_seqs = [e.seq for e in store.read_events(project.id)]
    seqs = sorted(event_seqs + [w.seq for w in store.read_warnings(project.id)])
    assert seqs == list(range(len(seqs)))  # whole batches only, nothing missing
    assert len(seqs) - 1 >= acknowledged
    log = list(store.read_log(project.id))
    assert {e.seq for e in log} <= set(event_seqs)
    rebuilt = IdentityEngine.replay(project.policy(), log)
    assert list(store.read_mapping(project.id)) == sorted(rebuilt.mapping())
    writer = ProjectWriter(store, project)  # and ingestion carries on where it stopped
    assert writer.next_seq == len(seqs)
    store.close()
