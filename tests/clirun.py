"""Running ``idmerge`` commands in-process against a data directory, for the CLI
tests: a data directory of one project, the invoker, and the checks every command's
answer goes through."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from idmerge.cli.main import cli
from idmerge.identity import Event, Mode
from idmerge.ingest import ProjectWriter
from idmerge.projects import create_project
from idmerge.storage.duckdb import open_store
from journeys import ingest

Run = Callable[..., Result]


def one_project_dir(
    data_dir: Path, mode: Mode = Mode.SIMPLIFIED, events: Iterable[Event] = ()
) -> Path:
    """``data_dir`` made a data directory holding one project, ``shop`` in ``mode``,
    with ``events`` stored (:func:`journeys.ingest`); answers ``data_dir``."""
    store = open_store(data_dir)
    try:
        ingest(ProjectWriter(store, create_project(store, "shop", mode, now=0)), events)
    finally:
        store.close()
    return data_dir


def invoker(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run(*args)``: ``idmerge args...`` with ``data_dir`` as the data directory and
    no settings file."""
    monkeypatch.chdir(data_dir.parent)
    monkeypatch.delenv("IDMERGE_CONFIG", raising=False)
    monkeypatch.setenv("IDMERGE_DATA_DIR", str(data_dir))
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def one_line_error(result: Result, message: str) -> None:
    """A refused command: exit 1, nothing on standard output, one line naming the
    problem on standard error, no trace."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@contextlib.contextmanager
def holding(data_dir: Path) -> Iterator[None]:
    """``data_dir``'s database held open by another process, as the server holds it."""
    script = (
        "import sys\nfrom idmerge.storage.duckdb import open_store\n"
        f"store = open_store({str(data_dir)!r})\nprint('ready', flush=True)\n"
        "sys.stdin.read()\nstore.close()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline() == "ready\n"
            yield
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
