"""``idmerge``: every command parses its arguments, calls one library function, prints."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from idmerge import __version__
from idmerge.errors import IdmergeError
from idmerge.identity import Mode
from idmerge.projects import Project, create_project, set_mode
from idmerge.settings import Settings
from idmerge.storage.duckdb import DuckDBStore, open_store

F = TypeVar("F", bound=Callable[..., Any])
MODES = click.Choice([m.value for m in Mode])


def store_options(command: F) -> F:
    """``--data-dir`` and ``--config`` on a command that opens the store."""
    command = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        help="Settings file (TOML); default $IDMERGE_CONFIG, else ./idmerge.toml if present.",
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="Data directory; default $IDMERGE_DATA_DIR, else ./idmerge-data.",
    )(command)


@contextmanager
def opened_store(data_dir: str | None, config: str | None) -> Iterator[DuckDBStore]:
    settings = Settings.load({"data_dir": data_dir}, config=config)
    store = open_store(settings.data_dir, memory_limit=settings.memory_limit)
    try:
        yield store
    finally:
        store.close()


def reports_errors(command: F) -> F:
    """Turn idmerge's errors into a one-line message and exit status 1, never a trace."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except IdmergeError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper  # type: ignore[return-value]


def now_ms() -> int:
    return int(time.time() * 1000)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="idmerge")
def cli() -> None:
    """idmerge: a self-hosted Mixpanel/Segment collector that resolves identities."""


@cli.group()
def project() -> None:
    """Create and list projects."""


@project.command("create")
@click.argument("name")
@click.option("--mode", type=MODES, default=Mode.SIMPLIFIED.value, show_default=True)
@click.option("--token", help="Public project token (generated when omitted).")
@click.option("--secret", help="Private project secret (generated when omitted).")
@click.option("--max-cluster-ids", type=click.IntRange(min=1), help="Largest cluster allowed.")
@click.option("--max-merges", type=click.IntRange(min=1), help="Most merges per cluster (cdp).")
@store_options
@reports_errors
def project_create(
    name: str,
    mode: str,
    token: str | None,
    secret: str | None,
    max_cluster_ids: int | None,
    max_merges: int | None,
    data_dir: str | None,
    config: str | None,
) -> None:
    """Create project NAME and print it as JSON."""
    with opened_store(data_dir, config) as store:
        created = create_project(
            store,
            name,
            mode,
            now=now_ms(),
            token=token,
            secret=secret,
            max_cluster_ids=max_cluster_ids,
            max_merges=max_merges,
        )
    click.echo(json.dumps(created.as_json(), indent=2))


@project.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@store_options
@reports_errors
def project_list(as_json: bool, data_dir: str | None, config: str | None) -> None:
    """List every project."""
    with opened_store(data_dir, config) as store:
        projects = store.projects()
    if as_json:
        click.echo(json.dumps([p.as_json() for p in projects], indent=2))
    else:
        click.echo(_project_table(projects))


@project.command("set-mode")
@click.argument("name")
@click.argument("mode", type=MODES)
@store_options
@reports_errors
def project_set_mode(name: str, mode: str, data_dir: str | None, config: str | None) -> None:
    """Change the identity mode of project NAME (only while it holds no data)."""
    with opened_store(data_dir, config) as store:
        changed = set_mode(store, name, mode)
    click.echo(json.dumps(changed.as_json(), indent=2))


@cli.command()
@click.option("--host", help="Address to listen on; default $IDMERGE_HOST, else 127.0.0.1.")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port; default $IDMERGE_PORT, else 8000."
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@store_options
@reports_errors
def serve(
    host: str | None, port: int | None, log_level: str, data_dir: str | None, config: str | None
) -> None:
    """Start the ingestion and identity server (creates a project on an empty store)."""
    # the server's imports would slow every other command down
    from idmerge.server.run import run  # noqa: PLC0415

    settings = Settings.load({"data_dir": data_dir, "host": host, "port": port}, config=config)
    run(settings, log_level=log_level)


def _project_table(projects: list[Project]) -> str:
    if not projects:
        return "no projects yet: create one with `idmerge project create NAME`"
    return tools.table(
        ("NAME", "MODE", "TOKEN", "CREATED (UTC)"),
        (
            (
                p.name,
                p.mode.value,
                p.token,
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(p.created_at / 1000)),
            )
            for p in projects
        ),
    )


# import, query, replay, explain, split, export, ...: they register themselves on `cli`
# (and tools holds the plain-text helpers every command prints with)
from idmerge.cli import compare, imports, query, replay, tools  # noqa: E402, F401
