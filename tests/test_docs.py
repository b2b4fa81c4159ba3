"""The documentation says what the code does: tests fail when they drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import click

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
