"""The ``idmerge`` command, run as a user runs it (a real process for the lock case)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from idmerge.cli.main import cli
from idmerge.errors import BadRequest
from idmerge.identity import Event
from idmerge.ingest import ProjectWriter
from idmerge.projects import get_project
from idmerge.settings import Settings
from idmerge.storage.duckdb import open_store


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IDMERGE_DATA_DIR", raising=False)
    monkeypatch.delenv("IDMERGE_CONFIG", raising=False)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_create_prints_json_with_generated_credentials(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A token and secret are generated; the default data directory is ./idmerge-data."""
    result = run("project", "create", "shop", "--mode", "original")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["name"] == "shop"
    assert created["mode"] == "original"
    assert created["max_cluster_ids"] == 500
    assert re.fullmatch(r"[0-9a-f]{32}", created["token"])
    assert re.fullmatch(r"[0-9a-f]{32}", created["secret"])
    assert created["token"] != created["secret"]
    assert (tmp_path / "idmerge-data" / "idmerge.duckdb").exists()


def test_create_uses_given_token_secret_and_limits(run) -> None:  # type: ignore[no-untyped-def]
    """Credentials and limits given on the command line are kept."""
    result = run(
        "project",
        "create",
        "shop",
        "--mode",
        "cdp",
        "--token",
        "tok-12345",
        "--secret",
        "sec-12345",
        "--max-cluster-ids",
        "50",
        "--max-merges",
        "5",
    )
    created = json.loads(result.output)
    assert (created["token"], created["secret"]) == ("tok-12345", "sec-12345")
    assert (created["max_cluster_ids"], created["max_merges"]) == (50, 5)


def test_default_mode_is_simplified(run) -> None:  # type: ignore[no-untyped-def]
    """Like Mixpanel today, a new project uses Simplified ID Merge unless told otherwise."""
    assert json.loads(run("project", "create", "shop").output)["mode"] == "simplified"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["project", "create", "a b"], "project name 'a b' must be"),
        (["project", "create", "x", "--token", "short"], "token must be 8-128"),
        (
            ["project", "create", "x", "--token", "same-1234", "--secret", "same-1234"],
            "must differ",
        ),
        (["project", "set-mode", "ghost", "cdp"], "no project named 'ghost'"),
    ],
)
def test_bad_requests_get_one_clear_line(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    """A wrong command exits 1 with a message naming the problem, never a traceback."""
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_mode_is_refused_by_the_parser(run) -> None:  # type: ignore[no-untyped-def]
    """Only the four modes are accepted."""
    result = run("project", "create", "x", "--mode", "magic")
    assert result.exit_code == 2
    assert "'magic' is not one of" in result.output


def test_duplicate_name_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    """Two projects cannot share a name."""
    run("project", "create", "shop")
    result = run("project", "create", "shop")
    assert result.exit_code == 1
    assert "a project named 'shop' exists already" in result.output


def test_list_as_table_and_json(run) -> None:  # type: ignore[no-untyped-def]
    """`project list` prints a table, or JSON with --json."""
    assert "no projects yet" in run("project", "list").output
    run("project", "create", "one")
    run("project", "create", "two", "--mode", "legacy")
    table = run("project", "list").output.splitlines()
    assert table[0].split() == ["NAME", "MODE", "TOKEN", "CREATED", "(UTC)"]
    assert [line.split()[:2] for line in table[1:]] == [["one", "simplified"], ["two", "legacy"]]
    listed = json.loads(run("project", "list", "--json").output)
    assert [p["name"] for p in listed] == ["one", "two"]


def test_data_dir_flag_beats_environment(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--data-dir wins over IDMERGE_DATA_DIR, which wins over the default."""
    env = {"IDMERGE_DATA_DIR": str(tmp_path / "from-env")}
    run("project", "create", "a", env=env)
    run("project", "create", "b", "--data-dir", str(tmp_path / "from-flag"), env=env)
    assert (tmp_path / "from-env" / "idmerge.duckdb").exists()
    assert (tmp_path / "from-flag" / "idmerge.duckdb").exists()
    assert not (tmp_path / "idmerge-data").exists()
    names = json.loads(run("project", "list", "--json", env=env).output)
    assert [p["name"] for p in names] == ["a"]


def test_settings_file_is_read(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """./idmerge.toml sets data_dir when no flag or variable does."""
    (tmp_path / "idmerge.toml").write_text('data_dir = "from-file"\n')
    run("project", "create", "a")
    assert (tmp_path / "from-file" / "idmerge.duckdb").exists()
    (tmp_path / "idmerge.toml").write_text('data_dri = "typo"\n')
    result = run("project", "list")
    assert result.exit_code == 1
    assert "unknown settings ['data_dri']" in result.output


def test_set_mode_only_while_empty(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The mode changes while the project is empty and is frozen once it holds data."""
    run("project", "create", "shop")
    assert json.loads(run("project", "set-mode", "shop", "original").output)["mode"] == "original"
    store = open_store(tmp_path / "idmerge-data")
    writer = ProjectWriter(store, get_project(store, "shop"))
    writer.ingest([Event("view", {"distinct_id": "u1"}, 1)], received_at=1)
    store.close()
    result = run("project", "set-mode", "shop", "cdp")
    assert result.exit_code == 1
    assert "already holds data, so its identity mode stays 'original'" in result.output


def test_locked_database_is_reported(tmp_path: Path) -> None:
    """While another process owns the database, the command says so and exits 1."""
    store = open_store(tmp_path)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "idmerge.cli", "project", "list", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        store.close()
    assert result.returncode == 1
    assert "in use by another process" in result.stderr
    assert "Traceback" not in result.stderr


def test_memory_limit_setting_reaches_duckdb(tmp_path: Path) -> None:
    """``memory_limit`` bounds DuckDB's page cache (so an export's memory does not grow
    with its size); a value that is not a size is refused by name."""
    settings = Settings.load({"data_dir": str(tmp_path)}, env={"IDMERGE_MEMORY_LIMIT": "300MB"})
    assert settings.memory_limit == "300MB"
    assert Settings.load({"data_dir": str(tmp_path)}, env={}).memory_limit == "2GB"
    with pytest.raises(BadRequest, match="memory_limit"):
        Settings.load({"data_dir": str(tmp_path)}, env={"IDMERGE_MEMORY_LIMIT": "lots"})
    store = open_store(tmp_path, memory_limit=settings.memory_limit)
    try:
        rows = list(store.query("SELECT current_setting('memory_limit')"))
        limit = rows[0].column(0)[0].as_py()
        assert limit.replace(" ", "").upper().startswith(("286", "300")), limit
    finally:
        store.close()
