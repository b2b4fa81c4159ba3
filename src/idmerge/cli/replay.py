"""``idmerge replay``: run a project's history again under another identity mode, into
another project (:mod:`idmerge.ingest.replay`); ``idmerge compare`` then says what
changed."""

from __future__ import annotations

import time
from typing import Any

import click

from idmerge.cli.main import MODES, cli, now_ms, reports_errors, store_options
from idmerge.cli.tools import Progress, json_option, json_text, project_option, project_store, table
from idmerge.identity import Mode
from idmerge.ingest.replay import ReplayReport, replay


@cli.command("replay")
@project_option
@click.option("--mode", required=True, type=MODES, help="The identity mode to replay under.")
@click.option(
    "--into",
    metavar="NEW",
    help="The project to write: new, or empty. Default: a new one named PROJECT-MODE.",
)
@click.option(
    "--derive-simplified-ids",
    is_flag=True,
    help="Give events the $device_id/$user_id that the source's $identify and "
    "$create_alias history implies (Mixpanel's migration recipe; legacy or original "
    "source, simplified or cdp mode).",
)
@click.option("--quiet", is_flag=True, help="No progress on standard error.")
@json_option
@store_options
@reports_errors
def replay_command(
    project_name: str | None,
    mode: str,
    into: str | None,
    derive_simplified_ids: bool,
    quiet: bool,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Replay the project's history, in its ingestion order, under identity mode MODE
    into another project of the same data directory; the project itself is only read.

    Compare the two with `idmerge compare PROJECT NEW`."""
    progress = Progress(shown=not quiet and not as_json)
    started = time.monotonic()
    try:  # an error's line starts on a clean one
        with project_store(data_dir, config, project_name, None) as (store, source):
            report = replay(
                store,
                source,
                Mode(mode),
                into=into,
                now=now_ms,
                derive_simplified_ids=derive_simplified_ids,
                progress=lambda events: progress.add(events - progress.count),
            )
    finally:
        progress.clear()
    seconds = time.monotonic() - started
    if as_json:
        click.echo(json_text(report_json(report, seconds)))
        return
    click.echo(report_text(report, seconds))


def report_json(report: ReplayReport, seconds: float) -> dict[str, Any]:
    return {
        "source": {"name": report.source.name, "mode": report.source.mode.value},
        "target": {"name": report.target.name, "mode": report.target.mode.value},
        "events": report.events,
        "profile_updates": report.profile_updates,
        "identity_events": dict(sorted(report.outcomes.items())),
        "splits": report.splits,
        "skipped_splits": report.skipped_splits,
        "derived_simplified_ids": report.derived_ids,
        "derived": report.derived,
        "saved_funnels": report.funnels,
        "seconds": round(seconds, 3),
    }


def report_text(report: ReplayReport, seconds: float) -> str:
    source, target = report.source, report.target
    rows = [
        ("events", f"{report.events:,}"),
        ("profile updates", f"{report.profile_updates:,}"),
        *((f"identity events {k}", f"{n:,}") for k, n in sorted(report.outcomes.items())),
        ("splits done again", f"{report.splits:,}"),
        ("saved funnels copied", f"{report.funnels:,}"),
    ]
    if report.derived_ids:
        rows.append(("events given derived ids", f"{report.derived:,}"))
    lines = [
        f"replayed {source.name} ({source.mode.value}) under {target.mode.value} "
        f"into {target.name} in {seconds:.2f} s",
        "",
        table(None, rows),
    ]
    if report.skipped_splits:
        lines += ["", "splits not done again:", *(f"  {why}" for why in report.skipped_splits)]
    lines += ["", f"what changed: idmerge compare {source.name} {target.name}"]
    return "\n".join(lines)
