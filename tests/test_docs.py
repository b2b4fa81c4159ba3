"""The documentation says what the code does: tests fail when they drift apart."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from clirun import invoker, ok
from idmerge.cli.main import cli
from idmerge.settings import SETTINGS

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block, "the README opens with a shell block"
    return [line for line in first_block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_first_screen_has_exactly_two_commands() -> None:
    """One command installs and starts idmerge; the other installs test needs and runs them."""
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].startswith("pip install . && idmerge ")
    assert "pytest" in commands[1]
    assert README.index("```sh") < 1200  # on the first screen


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` calls the very test command the README gives."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_every_setting_is_documented() -> None:
    """Each setting's name, variable and default stand in the README's settings table."""
    for setting in SETTINGS:
        row = next((line for line in README.splitlines() if f"`{setting.name}`" in line), "")
        assert setting.env in row and setting.default in row, setting.name


def all_commands(group: click.Group, prefix: str = "idmerge") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, f"{prefix} {name}")
        else:
            found.append(f"{prefix} {name}")
    return found


def test_every_command_is_documented() -> None:
    """Each CLI command appears in the README's command table."""
    for command in all_commands(cli):
        assert f"`{command}" in README, command


def test_changelog_follows_keep_a_changelog() -> None:
    """CHANGELOG.md has an Unreleased section, as Keep a Changelog asks."""
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog


def test_the_replay_guide_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/replay.md's worked example: its file, its commands in order, and each
    output it shows, exactly (but for the seconds a replay took)."""
    guide = (ROOT / "docs" / "replay.md").read_text(encoding="utf-8")
    example = guide[guide.index("## A worked example") : guide.index("## Importing")]
    blocks = re.findall(r"```(\w+)\n(.*?)```", example, re.S)
    [history] = [text for kind, text in blocks if kind == "jsonl"]
    (tmp_path / "shop-history.jsonl").write_text(history, encoding="utf-8")
    run = invoker(tmp_path / "data", monkeypatch)
    shown = 0
    last = ""
    for kind, text in blocks:
        if kind == "sh":
            for line in text.splitlines():
                assert line.startswith("idmerge "), line
                last = ok(run(*shlex.split(line)[1:])).stdout
        elif kind == "text":
            assert _seconds(last).rstrip("\n") == _seconds(text).rstrip("\n")
            shown += 1
    assert shown == 4


def _seconds(output: str) -> str:
    return re.sub(r" in \d+\.\d\d s", " in 0.00 s", output)
