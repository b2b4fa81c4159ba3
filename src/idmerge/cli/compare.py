"""``idmerge compare P NEW``: what another identity mode changes, report by report.

NEW holds a replay of P's history under another mode (``idmerge replay``). The
command calls :func:`idmerge.query.compare.compare` (its module states the rules) and
prints a one-line verdict, then a titled table per section: users, split and joined
persons, the most affected ids, identity events by reason, saved funnels side by side
and retention side by side. Numbers carry thousands separators; ``--json`` prints
the library's answer instead. Nothing answers this over HTTP, so while the server
holds the data directory the command asks to stop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import click

from idmerge.cli.main import cli, reports_errors, store_options
from idmerge.cli.tools import (
    database_refusals,
    iso_utc,
    json_option,
    json_text,
    project_store,
    table,
)
from idmerge.projects import get_project
from idmerge.query.compare import Comparison, FunnelSteps, Pair, Regrouped, compare


@cli.command("compare")
@click.argument("before_name", metavar="P")
@click.argument("after_name", metavar="NEW")
@click.option(
    "--top", type=int, default=10, show_default=True, metavar="N", help="Examples per section."
)
@json_option
@store_options
@reports_errors
def compare_command(
    before_name: str,
    after_name: str,
    top: int,
    as_json: bool,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Compare project P with NEW, a replay of P's history under another identity mode.

    Events pair up by their order in each project. A person of P whose events land on
    several persons of NEW is split; a person of NEW whose events come from several of
    P is joined. Then the ids they hold, the identity events by outcome and reason,
    each saved funnel of P beside NEW's of the same name, and weekly retention (born
    on any event), over the days of P's events."""
    with project_store(data_dir, config, before_name, None) as (store, before):
        after = get_project(store, after_name)
        # a saved funnel that cannot run is reported in its section; anything else
        # the database refuses ends the comparison with one line saying why
        with database_refusals("the comparison could not run"):
            found = compare(store, before, after, top=top)
    click.echo(json_text(found.as_json()) if as_json else report(found))


def report(found: Comparison) -> str:
    """The verdict and every section, as plain text."""
    affected = found.affected_ids
    sections = [
        verdict(found),
        section("Users", users_table(found)),
        section("Split and joined persons", clusters_text(found)),
        section(f"Most affected ids ({affected.count:,} in all)", affected_table(found)),
        section("Identity events by reason", identity_text(found)),
        section("Saved funnels (users reaching each step)", funnels_table(found)),
        section("Retention (born on any event, back in week N)", retention_table(found)),
    ]
    return "\n\n".join(sections)


def verdict(found: Comparison) -> str:
    users, clusters = found.users.persons, found.clusters
    return (
        f"{found.before.project} → {found.after.project}: {users.before:,} users become "
        f"{users.after:,}; {clusters.split:,} split, {clusters.joined:,} joined"
    )


def section(title: str, body: str) -> str:
    return f"{title}\n{'-' * len(title)}\n{body}"


def sides(found: Comparison) -> tuple[str, str]:
    """The two columns' headings: each project's name and mode."""
    before, after = found.before, found.after
    return f"{before.project} ({before.mode})", f"{after.project} ({after.mode})"


def change(pair: Pair) -> str:
    return "=" if pair.after == pair.before else f"{pair.after - pair.before:+,}"


def users_table(found: Comparison) -> str:
    users = found.users
    rows = [
        (label, f"{pair.before:,}", f"{pair.after:,}", change(pair))
        for label, pair in (
            ("users", users.persons),
            ("events", users.events),
            ("stored ids", users.stored_ids),
        )
    ]
    return table(("", *sides(found), "CHANGE"), rows)


def clusters_text(found: Comparison) -> str:
    clusters, before, after = found.clusters, found.before.project, found.after.project
    parts = [
        f"{clusters.split:,} split, {clusters.joined:,} joined, {clusters.unchanged:,} unchanged"
    ]
    if clusters.top_split:
        header = (f"SPLIT ({before})", "EVENTS", f"BECOMES ({after})")
        parts.append(table(header, regrouped_rows(clusters.top_split)))
    if clusters.top_joined:
        header = (f"JOINED ({after})", "EVENTS", f"WAS ({before})")
        parts.append(table(header, regrouped_rows(clusters.top_joined)))
    return "\n\n".join(parts)


def regrouped_rows(people: Iterable[Regrouped]) -> list[tuple[str, str, str]]:
    rows = []
    for person in people:
        parts = ", ".join(f"{part.person} ({part.events:,})" for part in person.parts)
        more = person.part_count - len(person.parts)
        if more:
            parts += f" and {more:,} more"
        rows.append((person.person, f"{person.events:,}", parts))
    return rows


def affected_table(found: Comparison) -> str:
    if not found.affected_ids.top:
        return "none: every id keeps its person"
    before, after = found.before.project, found.after.project
    header = ("DISTINCT_ID", "EVENTS", f"PERSON ({before})", f"PERSONS ({after})")
    rows = [
        (a.distinct_id, f"{a.events:,}", a.person_before, ", ".join(a.persons_after))
        for a in found.affected_ids.top
    ]
    return table(header, rows)


def identity_text(found: Comparison) -> str:
    identity = found.identity_events
    if not identity.counts:
        return "no identity event on either side"
    rows = [
        (c.event, c.outcome, c.reason, f"{c.before:,}", f"{c.after:,}", c.description)
        for c in identity.counts
    ]
    parts = [table(("EVENT", "OUTCOME", "REASON", *sides(found), "MEANING"), rows)]
    newly = identity.newly_ignored
    if newly.count:
        title = (
            f"kept in {found.before.project}, ignored or refused in {found.after.project}: "
            f"{newly.count:,}"
        )
        header = ("SEQ", "SEQ (NEW)", "TIME (UTC)", "EVENT", "INSERT_ID", "IDS", "WAS", "NOW")
        examples = [
            (
                x.seq_before,
                x.seq_after,
                iso_utc(x.time),
                x.event,
                x.insert_id,
                ", ".join(x.ids),
                x.outcome_before,
                f"{x.outcome_after} ({x.reason})" if x.reason else x.outcome_after,
            )
            for x in newly.examples
        ]
        parts.append(f"{title}\n{table(header, examples)}")
    return "\n\n".join(parts)


def funnels_table(found: Comparison) -> str:
    if not found.funnels:
        return f"{found.before.project} has no saved funnel"
    rows: list[Sequence[Any]] = []
    for saved in found.funnels:
        rows += funnel_rows(saved, found.before.project, found.after.project)
    return table(("FUNNEL", "STEP", *sides(found)), rows)


def funnel_rows(
    saved: FunnelSteps, before_name: str, after_name: str
) -> list[tuple[str, str, str, str]]:
    """A row per step: users reaching it on each side, after step 1 with their share
    of step 1; then a row per side the funnel could not run on, saying why."""
    name = saved.name
    if saved.missing_in_after:
        name += f" (missing in {after_name})"
    elif not saved.same_definition:
        name += f" (steps or window differ in {after_name})"
    why_not = ((before_name, saved.problem_before), (after_name, saved.problem_after))
    problems = [f"could not run in {side}: {why}" for side, why in why_not if why is not None]
    if not saved.steps:
        return [(name, "", "-", "-"), *(("", text, "", "") for text in problems)]
    first = saved.steps[0]
    rows = []
    for k, step in enumerate(saved.steps):
        before = "-" if step.before is None else share(step.before, first.before or 0, k)
        after = "-" if step.after is None else share(step.after, first.after or 0, k)
        rows.append((name if k == 0 else "", f"{k + 1}. {step.event}", before, after))
    rows += [("", text, "", "") for text in problems]
    return rows


def share(count: int, of: int, k: int = 1) -> str:
    """``count``, with its share of ``of`` unless it is the first (``k`` 0)."""
    return f"{count:,} ({100 * count / of:.1f}%)" if k and of else f"{count:,}"


def retention_table(found: Comparison) -> str:
    retention = found.retention
    born = retention.born
    rows = [("born", f"{born.before:,}", f"{born.after:,}")]
    rows += [
        (f"week {w.week}", share(w.before, born.before), share(w.after, born.after))
        for w in retention.back
    ]
    return table(("", *sides(found)), rows)
