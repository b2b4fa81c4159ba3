"""The reports: ``idmerge query funnel|retention|segmentation``, and saved funnels
(``idmerge funnels save|list|delete``).

Each command puts its options into a parameter mapping as the HTTP query API
receives one and hands it to the library function the endpoint calls, so a report,
and every refusal of a parameter, is the same on the command line as over HTTP;
``--json`` prints the endpoint's answer. Numbers the library checks (lengths,
limits, intervals) are passed on as typed rather than parsed by click, so that their
errors are the library's too. Without ``--json``, a plain table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, TypeVar

import click

from idmerge.cli.main import cli, now_ms, reports_errors, store_options
from idmerge.cli.tools import (
    database_refusals,
    iso_utc,
    json_option,
    json_text,
    project_option,
    project_store,
    table,
)
from idmerge.errors import BadRequest, NotFound
from idmerge.projects import Project
from idmerge.query import funnels
from idmerge.query.funnels import FunnelSpec
from idmerge.query.retention import RetentionSpec, retention
from idmerge.query.segmentation import SegmentationSpec, segmentation
from idmerge.storage.base import Store

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S")


def date_options(command: F) -> F:
    # --from-date/--to-date as `idmerge export` has them; --from/--to read better here
    command = click.option(
        "--to-date", "--to", "to_date", required=True, metavar="YYYY-MM-DD", help="Last day (UTC)."
    )(command)
    return click.option(
        "--from-date",
        "--from",
        "from_date",
        required=True,
        metavar="YYYY-MM-DD",
        help="First day (UTC).",
    )(command)


def step_options(command: F) -> F:
    command = click.option(
        "--step-where",
        "step_wheres",
        type=(click.IntRange(min=1), str),
        multiple=True,
        metavar="N EXPR",
        help="Only step N's events (1 = the first) this expression holds for.",
    )(command)
    return click.option(
        "--step",
        "step_names",
        multiple=True,
        metavar="EVENT",
        help="A step's event, in order (repeat it: 2 to 20 steps).",
    )(command)


def steps_of(
    names: Sequence[str], wheres: Sequence[tuple[int, str]]
) -> list[dict[str, Any]] | None:
    """``--step`` and ``--step-where`` as the ``steps`` of a JSON body; None for none."""
    if not names:
        if wheres:
            raise BadRequest("--step-where needs the steps, named with --step")
        return None
    where_of: dict[int, str] = {}
    for n, expression in wheres:
        if n > len(names):
            raise BadRequest(f"--step-where {n}: there are only {len(names)} steps")
        if n in where_of:
            raise BadRequest(f"--step-where {n} is given twice: join the conditions with `and`")
        where_of[n] = expression
    return [{"event": name, "where": where_of.get(n)} for n, name in enumerate(names, 1)]


def given(**params: Any) -> dict[str, Any]:
    """The parameters that were given (HTTP has no null for an absent one). Options
    are named as the HTTP parameters they are, so the options are the parameters."""
    return {name: value for name, value in params.items() if value is not None}


def run_report(
    report: Callable[[Store, Project, S], dict[str, Any]], store: Store, project: Project, spec: S
) -> dict[str, Any]:
    """``report``'s answer; a query the database refuses is a bad request, with the
    message the HTTP API gives it."""
    with database_refusals():
        return report(store, project, spec)


def percent(count: int, of: int) -> str:
    return f"{count} ({100 * count / of:.1f}%)" if of else str(count)


@cli.group("query")
def query_group() -> None:
    """Funnels, retention and segmentation reports.

    On resolved ids, as Mixpanel's query API answers them (and idmerge's, over HTTP)."""


# -- funnel ------------------------------------------------------------------------


@query_group.command("funnel")
@date_options
@step_options
@click.option("--funnel-id", metavar="N", help="A saved funnel (`idmerge funnels list`).")
@click.option("--length", metavar="N", help="Conversion window; default 7 (saved: its own).")
@click.option("--length-unit", metavar="second|minute|hour|day", help="Of --length; default day.")
@click.option("--unit", metavar="day|week|month", help="Entry dates by; default day.")
@click.option("--interval", metavar="DAYS", help="Entry dates by N days, not by --unit.")
@click.option("--on", metavar="EXPR", help="Segment by this, read on the first step's event.")
@click.option("--where", metavar="EXPR", help="Only events this expression holds for.")
@click.option("--limit", metavar="N", help="With --on: the N segments most entered (255).")
@project_option
@json_option
@store_options
@reports_errors
def funnel_command(
    step_names: tuple[str, ...],
    step_wheres: tuple[tuple[int, str], ...],
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
    **options: str | None,
) -> None:
    """Conversion through ordered steps, by entry date.

    The steps are the --step events in order, or those of a saved --funnel-id. A cell
    is the users who reached the step, with their share of the step before;
    CONVERSION is the share of those entering who reached the last step. TOTAL sums
    the dates (a user entering on two dates counts twice)."""
    params = given(**options, steps=steps_of(step_names, step_wheres))
    endpoint = "GET /api/2.0/funnels?funnel_id=N&from_date=...&to_date=... (or POST steps)"
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        spec = funnels.funnel_of(store, project, params)
        answer = run_report(funnels.funnel, store, project, spec)
    click.echo(json_text(answer) if as_json else funnel_table(spec, answer))


def funnel_table(spec: FunnelSpec, answer: dict[str, Any]) -> str:
    segmented = spec.on is not None
    header = ["DATE", *(["SEGMENT"] if segmented else [])]
    header += [f"{k}. {step.event}" for k, step in enumerate(spec.steps, 1)] + ["CONVERSION"]
    rows: list[list[Any]] = [header]
    totals: dict[str, list[int]] = {}
    for date in answer["meta"]["dates"]:
        found = answer["data"][date]
        by_segment = found.items() if segmented else [("", found["steps"])]
        for segment, steps in by_segment:
            counts = [step["count"] for step in steps]
            summed = totals.setdefault(segment, [0] * len(counts))  # in the answer's order
            totals[segment] = [a + b for a, b in zip(summed, counts, strict=True)]
            # every date lists every segment: the rows of those nobody entered are noise
            if segment == funnels.OVERALL or not segmented or counts[0]:
                rows.append(funnel_row(date, segment, counts, segmented))
    if len(answer["meta"]["dates"]) > 1:
        rows += [funnel_row("TOTAL", g, counts, segmented) for g, counts in totals.items()]
    return table(None, rows)


def funnel_row(date: str, segment: str, counts: list[int], segmented: bool) -> list[Any]:
    cells = [counts[0]] + [percent(n, before) for before, n in pairwise(counts)]
    conversion = f"{100 * counts[-1] / counts[0]:.1f}%" if counts[0] else "-"
    return [date, *([segment] if segmented else []), *cells, conversion]


# -- retention ---------------------------------------------------------------------


@query_group.command("retention")
@date_options
@click.option("--born-event", metavar="EVENT", help="The birth (required with --type birth).")
@click.option("--event", metavar="EVENT", help="The return event; default any event.")
@click.option("--type", "retention_type", metavar="birth|compounded", help="Default birth.")
@click.option("--unit", metavar="day|week|month", help="Cohorts and buckets by; default day.")
@click.option("--interval", metavar="N", help="Units per bucket; default 1.")
@click.option(
    "--buckets",
    "--interval-count",
    "interval_count",
    metavar="N",
    help="Buckets after bucket 0; default 1.",
)
@click.option(
    "--unbounded",
    "unbounded_retention",
    is_flag=True,
    help="Count a user in every bucket up to their last return.",
)
@click.option("--born-where", metavar="EXPR", help="Only births this expression holds for.")
@click.option("--where", metavar="EXPR", help="Only returns this expression holds for.")
@project_option
@json_option
@store_options
@reports_errors
def retention_command(
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
    **options: str | bool | None,
) -> None:
    """Returning users of each cohort, by bucket.

    A cohort is the users born in a date bucket; a cell is those who returned in the
    bucket after their birth, with their share of FIRST, the cohort's size."""
    spec = RetentionSpec.from_params(given(**options))
    endpoint = "GET /api/2.0/retention?from_date=...&to_date=...&born_event=..."
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        answer = run_report(retention, store, project, spec)
    click.echo(json_text(answer) if as_json else retention_table(spec, answer))


def retention_table(spec: RetentionSpec, answer: dict[str, Any]) -> str:
    unit = spec.buckets.unit.value.upper()
    header = ["COHORT", "FIRST"]
    header += [f"{unit} {k * spec.interval}" for k in range(spec.interval_count + 1)]
    rows: list[list[Any]] = [header]
    for cohort, found in answer.items():
        first = found["first"]
        rows.append([cohort, first, *(percent(n, first) for n in found["counts"])])
    return table(None, rows)


# -- segmentation ------------------------------------------------------------------


@query_group.command("segmentation")
@click.option("--event", required=True, metavar="EVENT", help="The event to count.")
@date_options
@click.option("--type", metavar="general|unique|average", help="Default general.")
@click.option("--unit", metavar="minute|hour|day|week|month", help="Buckets by; default day.")
@click.option("--interval", metavar="DAYS", help="Buckets of N days, not by --unit.")
@click.option("--on", metavar="EXPR", help="A column per value of this expression.")
@click.option("--where", metavar="EXPR", help="Only events this expression holds for.")
@click.option("--limit", metavar="N", help="With --on: the N greatest values (default 60).")
@project_option
@json_option
@store_options
@reports_errors
def segmentation_command(
    event: str,
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
    **options: str | None,
) -> None:
    """An event's count in each time bucket.

    EVENT's occurrences (general), users (unique) or occurrences per user (average),
    with a column per value of --on."""
    # the event as a list, as a JSON body sends it: the text form would read a name
    # starting with "[" as a JSON array
    spec = SegmentationSpec.from_params(given(**options, event=[event]))
    endpoint = "GET /api/2.0/segmentation?event=...&from_date=...&to_date=..."
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        answer = run_report(segmentation, store, project, spec)
    if as_json:
        click.echo(json_text(answer))
    elif not answer["data"]["values"]:
        click.echo(f"no {event!r} event matched: nothing to split by --on")
    else:
        click.echo(segmentation_table(answer))


def segmentation_table(answer: dict[str, Any]) -> str:
    values: dict[str, dict[str, Any]] = answer["data"]["values"]
    rows: list[list[Any]] = [["DATE", *values]]
    for label in answer["data"]["series"]:
        rows.append([label, *(counts[label] for counts in values.values())])
    return table(None, rows)


# -- saved funnels -----------------------------------------------------------------


@cli.group("funnels")
def funnels_group() -> None:
    """Saved funnel definitions.

    Save, list and delete the funnels `idmerge query funnel --funnel-id N` runs."""


@funnels_group.command("save")
@click.argument("name")
@step_options
@click.option("--length", metavar="N", help="Conversion window; default 7.")
@click.option("--length-unit", metavar="second|minute|hour|day", help="Of --length; default day.")
@project_option
@json_option
@store_options
@reports_errors
def funnels_save(
    step_names: tuple[str, ...],
    step_wheres: tuple[tuple[int, str], ...],
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
    **options: str | None,
) -> None:
    """Save a funnel; print it with its funnel_id.

    NAME names the funnel, the --step events are its steps."""
    params = given(**options, steps=steps_of(step_names, step_wheres))
    with project_store(data_dir, config, project_name, "POST /api/funnels") as (store, project):
        saved = funnels.save_funnel(store, project, params, now_ms())
    click.echo(json_text(saved) if as_json else saved_table([saved]))


@funnels_group.command("list")
@project_option
@json_option
@store_options
@reports_errors
def funnels_list(
    project_name: str | None, as_json: bool, data_dir: str | None, config: str | None
) -> None:
    """List the saved funnels with their steps."""
    with project_store(data_dir, config, project_name, "GET /api/funnels") as (store, project):
        found = [funnels.described(f) for f in store.saved_funnels(project.id)]
    if as_json:
        click.echo(json_text(found))
    elif not found:
        click.echo("no saved funnels: save one with `idmerge funnels save NAME --step A --step B`")
    else:
        click.echo(saved_table(found))


@funnels_group.command("delete")
@click.argument("funnel_id", type=int)
@project_option
@json_option
@store_options
@reports_errors
def funnels_delete(
    funnel_id: int,
    project_name: str | None,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Forget the saved funnel FUNNEL_ID."""
    endpoint = f"DELETE /api/funnels/{funnel_id}"
    with project_store(data_dir, config, project_name, endpoint) as (store, project):
        if not store.delete_funnel(project.id, funnel_id):
            raise NotFound(f"this project has no funnel with funnel_id {funnel_id}")
    click.echo(
        json_text({"status": "ok", "deleted": funnel_id})
        if as_json
        else f"deleted funnel {funnel_id}"
    )


def saved_table(saved: list[dict[str, Any]]) -> str:
    rows: list[list[Any]] = [["FUNNEL_ID", "NAME", "STEPS", "LENGTH", "CREATED (UTC)"]]
    for f in saved:
        steps = " > ".join(
            s["event"] + (f" [{s['where']}]" if s.get("where") else "") for s in f["steps"]
        )
        window = f"{f['length']} {f['length_unit']}" + ("" if f["length"] == 1 else "s")
        rows.append([f["funnel_id"], f["name"], steps, window, iso_utc(f["created_at"])])
    return table(None, rows)
