"""The identity and export tools: ``explain``, ``split``, ``export``, ``mappings``,
``warnings``.

Each command opens the store, picks the project, calls the library function the
server's endpoint calls, and prints a plain table (or JSON with ``--json``). One
process owns the data directory at a time: while ``idmerge serve`` runs, a command
says so and names the endpoint that answers the same question over HTTP.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import click
import duckdb

from idmerge.cli.main import cli, now_ms, opened_store, reports_errors, store_options
from idmerge.errors import BadRequest, ProjectNotFound, StoreLocked, first_line
from idmerge.ingest import ProjectWriter
from idmerge.projects import DEFAULT_PROJECT, Project, get_project
from idmerge.query import identity as identity_tools
from idmerge.query import mappings as mapping_tools
from idmerge.query.export import ExportSpec, export_lines
from idmerge.settings import Settings
from idmerge.storage.base import Store
from idmerge.storage.duckdb import DuckDBStore

F = TypeVar("F", bound=Callable[..., Any])

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def project_option(command: F) -> F:
    return click.option(
        "--project",
        "project_name",
        metavar="NAME",
        help=f"Project; default: the only one, else the one named {DEFAULT_PROJECT!r}.",
    )(command)


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        command
    )


def chosen_project(store: Store, name: str | None) -> Project:
    """The project ``--project`` names; without one, the only project, else ``default``."""
    if name is not None:
        return get_project(store, name)
    projects = store.projects()
    if len(projects) == 1:
        return projects[0]
    for project in projects:
        if project.name == DEFAULT_PROJECT:
            return project
    if not projects:
        raise ProjectNotFound("no projects yet: create one with `idmerge project create NAME`")
    names = ", ".join(p.name for p in projects)
    raise BadRequest(
        f"there are {len(projects)} projects and none is named {DEFAULT_PROJECT!r}: "
        f"choose one with --project NAME ({names})"
    )


@contextmanager
def database_refusals(what: str = "the query could not run") -> Iterator[None]:
    """A query the database refuses (a ``where`` the data cannot answer, ...) is a bad
    request saying ``what`` happened and why, as the HTTP API answers it."""
    try:
        yield
    except duckdb.Error as exc:
        raise BadRequest(f"{what}: {first_line(exc)}") from exc


@contextmanager
def project_store(
    data_dir: str | None, config: str | None, name: str | None, endpoint: str | None
) -> Iterator[tuple[DuckDBStore, Project]]:
    """The store and the chosen project; ``endpoint`` is what to ask instead while
    another process (normally the server) holds the data directory (None: nothing
    answers this over HTTP, so the server has to stop first)."""
    try:
        with opened_store(data_dir, config) as store:
            yield store, chosen_project(store, name)
    except StoreLocked as exc:
        directory = Settings.load({"data_dir": data_dir}, config=config).data_dir
        holder = re.search(r"\(PID \d+\)", exc.message)
        advice = (
            "stop it first, as this command opens the data directory itself"
            if endpoint is None
            else f"while it runs, ask it instead with {endpoint} "
            "(Basic auth with the project secret)"
        )
        raise StoreLocked(
            f"the data directory {str(directory)!r} is held by another process"
            f"{' ' + holder.group() if holder else ''}, normally the running server "
            f"(`idmerge serve`): {advice}"
        ) from exc


# -- explain and split -------------------------------------------------------------


@cli.command("explain")
@click.argument("distinct_id")
@project_option
@json_option
@store_options
@reports_errors
def explain_command(
    distinct_id: str,
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Show DISTINCT_ID's resolved id, its cluster and the identity history behind it."""
    endpoint = "GET /api/identity?distinct_id=ID"
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        answer = identity_tools.explain(ProjectWriter(store, project), distinct_id)
    if as_json:
        click.echo(json_text(answer))
        return
    cluster = answer["cluster"]
    ids = "id" if len(cluster) == 1 else "ids"
    click.echo(
        table(
            None,
            [
                ("distinct_id", answer["distinct_id"]),
                ("resolved_distinct_id", answer["resolved_distinct_id"]),
                ("cluster", f"{', '.join(cluster)} ({len(cluster)} {ids})"),
            ],
        )
    )
    click.echo()
    if answer["history"]:
        click.echo(table(HISTORY_HEADER, map(history_row, answer["history"])))
    else:
        click.echo("no identity event touched this cluster")


@cli.command("split")
@click.option("--insert-id", metavar="X", help="Undo the identity event with this $insert_id.")
@click.option(
    "--seq", type=click.IntRange(min=0), metavar="N", help="Undo the identity event stored as N."
)
@click.option("--detach", metavar="ID", help="Detach this id from its cluster.")
@click.option("--dry-run", is_flag=True, help="Only show what the split would do.")
@project_option
@json_option
@store_options
@reports_errors
def split_command(
    insert_id: str | None,
    seq: int | None,
    detach: str | None,
    dry_run: bool,
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Undo one identity event, or detach one id; print the split and the new clusters
    (with --dry-run, what they would be: nothing is written)."""
    if sum(x is not None for x in (insert_id, seq, detach)) != 1:
        raise click.ClickException("name exactly one of --insert-id, --seq or --detach")
    endpoint = "POST /api/identity/split (insert_id=, seq= or detach=)"
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        answer = identity_tools.split(
            ProjectWriter(store, project),
            now_ms=now_ms(),
            insert_id=insert_id,
            event_seq=seq,
            detach=detach,
            dry_run=dry_run,
        )
    if as_json:
        click.echo(json_text(answer))
        return
    if dry_run:
        click.echo("dry run: nothing was written")
    click.echo(table(HISTORY_HEADER, [history_row(answer["split"])]))
    click.echo()
    click.echo(
        table(
            ("DISTINCT_ID", "RESOLVED_DISTINCT_ID", "CLUSTER"),
            (
                (distinct_id, found["resolved_distinct_id"], ", ".join(found["cluster"]))
                for distinct_id, found in answer["clusters"].items()
            ),
        )
    )
    moved = ", ".join(answer["moved_ids"]) or "none"
    click.echo(f"\nids changing person: {moved}; events re-attributed: {answer['moved_events']}")


HISTORY_HEADER = ("SEQ", "TIME (UTC)", "EVENT", "INSERT_ID", "OUTCOME", "REASON", "IDS")


def history_row(entry: dict[str, Any]) -> tuple[Any, ...]:
    ids = ", ".join(entry["ids"])
    if entry.get("undoes"):
        undone = ", ".join(str(s) for s in entry["undoes"])
        ids = f"{ids} (undoes seq {undone})" if ids else f"undoes seq {undone}"
    return (
        entry["seq"],
        iso_utc(entry["time"]),
        entry["event"],
        entry["insert_id"],
        entry["outcome"],
        entry["reason"],
        ids,
    )


# -- export and mappings -----------------------------------------------------------


@cli.command("export")
@click.option("--from-date", required=True, metavar="YYYY-MM-DD", help="First day (UTC).")
@click.option("--to-date", required=True, metavar="YYYY-MM-DD", help="Last day (UTC), included.")
@click.option(
    "--event", "events", multiple=True, metavar="NAME", help="Only this event (repeatable)."
)
@click.option("--where", metavar="EXPR", help="Only events this expression holds for.")
@click.option("--limit", type=int, metavar="N", help="At most N events (up to 100,000).")
@click.option("--time-in-ms", is_flag=True, help="properties.time in ms, not seconds.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="File to write (gzip when it ends in .gz); default: standard output.",
)
@project_option
@store_options
@reports_errors
def export_command(
    from_date: str,
    to_date: str,
    events: tuple[str, ...],
    where: str | None,
    limit: int | None,
    time_in_ms: bool,
    output: str,
    project_name: str | None,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Export raw events as JSON lines, on resolved ids (Mixpanel's export)."""
    spec = ExportSpec.from_params(
        {
            "from_date": from_date,
            "to_date": to_date,
            "event": list(events) or None,
            "where": where,
            "limit": limit,
            "time_in_ms": time_in_ms,
        }
    )
    endpoint = "GET /api/2.0/export?from_date=...&to_date=..."
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        # on stdout, a counter makes sense only when the lines go elsewhere (`> file`)
        shown = output != "-" or (_is_tty(sys.stderr) and not _is_tty(sys.stdout))
        progress = Progress(shown=shown)
        try:
            with database_refusals("the export stopped"):
                chunks = export_lines(store, project, spec)
                # run the query to its first rows before the output file is created,
                # so a bad --where leaves no empty file behind
                first = next(chunks, None)
                with output_stream(output) as sink:
                    for chunk in itertools.chain([] if first is None else [first], chunks):
                        sink.write(chunk)
                        progress.add(chunk.count(b"\n"))
        finally:
            progress.clear()
    where_to = "" if output == "-" else f" to {output}"
    click.echo(f"exported {progress.count:,} events{where_to} in {progress.summary()}", err=True)


@cli.command("mappings")
@click.option(
    "--format",
    "form",
    type=click.Choice(mapping_tools.FORMATS),
    default="json",
    show_default=True,
    help="JSON lines, CSV or Parquet.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write (gzip when it ends in .gz); default: standard output (not parquet).",
)
@project_option
@store_options
@reports_errors
def mappings_command(
    form: str,
    output: str | None,
    project_name: str | None,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Export the identity mappings: every id that resolves to another, and to which."""
    chosen = mapping_tools.format_of(form)
    if chosen == "parquet" and output is None:
        raise BadRequest("parquet is a binary file: name one with --output FILE")
    endpoint = f"GET /api/identity/mappings?format={chosen}"
    with (
        project_store(data_dir, config, project_name, endpoint) as (store, project),
        output_stream(output or "-") as sink,
    ):
        for chunk in mapping_tools.mapping_chunks(store, project, chosen):
            sink.write(chunk)
    if output not in (None, "-"):
        click.echo(f"wrote the identity mappings of {project.name!r} to {output}", err=True)


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


@contextmanager
def output_stream(path: str) -> Iterator[Sink]:
    """Standard output for ``-``, else the file (gzip for ``.gz``), removed again when
    writing it fails half-way."""
    if path == "-":
        # (not click.get_binary_stream: deprecated from click 8.5, whose warning the
        # test suite turns into an error)
        stdout = sys.stdout.buffer
        try:
            yield stdout
            stdout.flush()
        except BrokenPipeError:
            # the reader went away (`| head`): stop as `cat` does, without a trace
            _silence_stdout()
            raise SystemExit(1) from None
        return
    target = Path(path)
    try:
        sink = _open_for_writing(target)
    except OSError as exc:
        raise BadRequest(f"cannot write {path!r}: {exc.strerror or exc}") from exc
    try:
        with sink:
            yield sink
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise BadRequest(f"cannot write {path!r}: {exc.strerror or exc}") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _open_for_writing(target: Path) -> gzip.GzipFile | io.BufferedWriter:
    if target.suffix == ".gz":
        return gzip.open(target, "wb", compresslevel=6)  # 9 is ~3x slower, barely smaller
    return target.open("wb")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. under a test runner)
        pass


class Progress:
    """Events written and events per second on standard error: rewritten in place on
    a terminal, a line every few seconds otherwise."""

    def __init__(self, *, shown: bool) -> None:
        self.shown = shown
        self.tty = _is_tty(sys.stderr)
        self.interval = 0.2 if self.tty else 5.0
        self.count = 0
        self.started = self.last = time.monotonic()
        self.drawn = False

    def add(self, events: int, extra: str = "") -> None:
        """Count ``events`` more; ``extra`` is shown after the rate (e.g. rejects)."""
        self.count += events
        now = time.monotonic()
        if not self.shown or now - self.last < self.interval:
            return
        self.last = now
        line = f"{self.count:,} events, {self.count / (now - self.started):,.0f} events/s"
        if extra:
            line += f", {extra}"
        if self.tty:
            click.echo(f"\r\x1b[K{line}", nl=False, err=True)
            self.drawn = True
        else:
            click.echo(line, err=True)

    def clear(self) -> None:
        if self.drawn:
            click.echo("\r\x1b[K", nl=False, err=True)
            self.drawn = False

    def summary(self) -> str:
        seconds = time.monotonic() - self.started
        rate = f", {self.count / seconds:,.0f} events/s" if seconds > 0 and self.count else ""
        return f"{seconds:.2f} s{rate}"


# -- warnings ----------------------------------------------------------------------


@cli.command("warnings")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most N."
)
@click.option(
    "--before-seq", type=click.IntRange(min=0), metavar="N", help="Only those older than seq N."
)
@click.option("--reason", metavar="CODE", help="Only this reason code (e.g. errJunkId).")
@project_option
@json_option
@store_options
@reports_errors
def warnings_command(
    limit: int,
    before_seq: int | None,
    reason: str | None,
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
) -> None:
    """List ingestion warnings, newest first: rejected records, refused identity events."""
    endpoint = "GET /api/ingestion/warnings?limit=&before_seq="
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        found = store.read_warnings(project.id, limit=limit, before_seq=before_seq, reason=reason)
    if as_json:
        click.echo(json_text([w._asdict() for w in found]))
    elif not found:
        click.echo("no ingestion warnings" + (f" with reason {reason!r}" if reason else ""))
    else:
        header = ("SEQ", "RECEIVED (UTC)", "ENDPOINT", "REASON", "DISTINCT_ID", "EVENT", "MESSAGE")
        click.echo(
            table(
                header,
                (
                    (
                        w.seq,
                        iso_utc(w.received_at),
                        w.endpoint,
                        w.reason,
                        w.distinct_id,
                        w.event,
                        w.message,
                    )
                    for w in found
                ),
            )
        )
    if len(found) == limit:
        click.echo(f"(older ones: --before-seq {found[-1].seq})", err=True)


# -- plain text --------------------------------------------------------------------


def table(header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    """Aligned columns, two spaces apart; None shows as ``-``, control characters
    escaped (ids and messages come from the outside)."""
    lines = [] if header is None else [tuple(header)]
    lines += [tuple(_cell(value) for value in row) for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _cell(value: Any) -> str:
    text = "-" if value is None else str(value)
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def iso_utc(ms: int) -> str:
    """``ms`` since the epoch as ISO 8601 UTC, e.g. ``2024-05-01T12:00:00.000Z``."""
    try:
        moment = _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return str(ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_text(value: Any) -> str:
    return json.dumps(value, indent=2)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False
