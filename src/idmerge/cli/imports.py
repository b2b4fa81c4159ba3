"""``idmerge import``: bring exported history into a project through the server's own
decoding, identity and writer path (:mod:`idmerge.ingest.files`): straight into the
data directory, or, with ``--server``, through a running ``idmerge serve`` (which owns
the directory while it runs; without ``--server`` the command then says so).
"""

from __future__ import annotations

from pathlib import Path

import click

from idmerge.cli.main import cli, now_ms, reports_errors, store_options
from idmerge.cli.tools import (
    Progress,
    json_option,
    json_text,
    project_option,
    project_store,
    table,
)
from idmerge.errors import BadRequest
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.ingest.files import FORMATS, Destination, FileReport, WriterDestination, import_file
from idmerge.ingest.remote import ServerDestination

ORIGINS = (Mode.LEGACY.value, Mode.ORIGINAL.value, Mode.SIMPLIFIED.value)
ENDPOINT = "idmerge import --server URL (POST /import or /v1/batch)"


@cli.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    default="mixpanel",
    show_default=True,
    help="mixpanel: raw-export JSON lines {event, properties}; segment: messages.",
)
@click.option(
    "--mode-of-origin",
    type=click.Choice(ORIGINS),
    help="The identity mode of the Mixpanel project the export comes from: each "
    "record's distinct_id is read back to the id it was sent with, and that mode's "
    "failure properties are dropped.",
)
@click.option(
    "--server",
    metavar="URL",
    help="Send through this running server instead of the data directory.",
)
@click.option("--secret", metavar="SECRET", help="With --server: the project secret (Mixpanel).")
@click.option("--token", metavar="TOKEN", help="With --server: the project token (Segment).")
@click.option("--quiet", is_flag=True, help="No progress on standard error.")
@project_option
@json_option
@store_options
@reports_errors
def import_command(
    files: tuple[Path, ...],
    file_format: str,
    mode_of_origin: str | None,
    server: str | None,
    secret: str | None,
    token: str | None,
    quiet: bool,
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Import FILES (JSON lines or a JSON array, plain or gzip) into the project.

    Rejected records go, with their line and reason, to FILE.rejects.jsonl beside each
    file. Importing a file again is harmless: reports count a retried event once."""
    if mode_of_origin is not None and file_format != "mixpanel":
        raise BadRequest(
            "--mode-of-origin reads Mixpanel raw exports; a Segment archive holds the "
            "messages as they were sent"
        )
    origin = None if mode_of_origin is None else Mode(mode_of_origin)
    reports: list[FileReport] = []
    progress = Progress(shown=not quiet and not as_json)
    rejected = 0

    def tick(imported: int, refused: int) -> None:
        nonlocal rejected
        rejected += refused
        progress.add(imported, extra=f"{rejected:,} rejected")

    def run(destination: Destination) -> None:
        for path in files:
            reports.append(import_file(destination, path, origin=origin, progress=tick))

    try:
        if server is not None:
            run(ServerDestination(server, file_format, secret=secret, token=token))
        else:
            with project_store(data_dir, config, project_name, ENDPOINT) as (store, project):
                run(WriterDestination(ProjectWriter(store, project), file_format, now_ms))
    finally:
        progress.clear()  # an error's line starts on a clean one
    if as_json:
        click.echo(json_text([_as_json(report) for report in reports]))
        return
    rows = [
        (str(r.path), f"{r.records:,}", f"{r.imported:,}", f"{r.rejected:,}", r.rejects_path)
        for r in reports
    ]
    if len(reports) > 1:
        rows.append(
            (
                "total",
                f"{sum(r.records for r in reports):,}",
                f"{sum(r.imported for r in reports):,}",
                f"{sum(r.rejected for r in reports):,}",
                None,
            )
        )
    click.echo(table(("FILE", "RECORDS", "IMPORTED", "REJECTED", "REJECTS"), rows))
    click.echo(f"\n{progress.summary()}", err=True)


def _as_json(report: FileReport) -> dict[str, object]:
    return {
        "file": str(report.path),
        "records": report.records,
        "imported": report.imported,
        "rejected": report.rejected,
        "rejects": None if report.rejects_path is None else str(report.rejects_path),
    }
