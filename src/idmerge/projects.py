"""Projects: a name, a public token, a private secret and a frozen identity mode.

The functions here are what the CLI (and later the HTTP API) call; the storage layer
only keeps the rows.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from idmerge.errors import BadRequest, ModeFrozen, ProjectExists, ProjectNotFound
from idmerge.identity import Mode, Policy

if TYPE_CHECKING:
    from idmerge.storage.base import Store

#: The project the server creates on an empty store, and the one commands choose
#: among several when none is named.
DEFAULT_PROJECT = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CREDENTIAL = re.compile(r"[A-Za-z0-9_-]{8,128}")


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    token: str
    secret: str
    mode: Mode
    created_at: int  # ms since the epoch
    max_cluster_ids: int | None = None  # None: the mode's default
    max_merges: int | None = None
    junk_ids: tuple[str, ...] | None = None  # None: the default list

    def policy(self) -> Policy:
        return Policy.for_mode(
            self.mode,
            max_cluster_ids=self.max_cluster_ids,
            max_merges=self.max_merges,
            junk_ids=self.junk_ids,
        )

    def as_json(self) -> dict[str, Any]:
        policy = self.policy()
        return {
            "id": self.id,
            "name": self.name,
            "token": self.token,
            "secret": self.secret,
            "mode": self.mode.value,
            "created_at": self.created_at,
            "max_cluster_ids": policy.max_cluster_ids,
            "max_merges": policy.max_merges,
            "junk_ids": list(self.junk_ids) if self.junk_ids is not None else "default",
        }


def parse_mode(value: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        modes = ", ".join(m.value for m in Mode)
        raise BadRequest(f"unknown identity mode {value!r}; choose one of: {modes}") from None


def create_project(
    store: Store,
    name: str,
    mode: Mode | str = Mode.SIMPLIFIED,
    *,
    now: int,
    token: str | None = None,
    secret: str | None = None,
    max_cluster_ids: int | None = None,
    max_merges: int | None = None,
    junk_ids: tuple[str, ...] | None = None,
) -> Project:
    """Create a project; a token and secret are generated when not given."""
    if not _NAME.fullmatch(name):
        raise BadRequest(
            f"project name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    mode = parse_mode(mode) if isinstance(mode, str) else mode
    token = token or secrets.token_hex(16)
    secret = secret or secrets.token_hex(16)
    for label, value in (("token", token), ("secret", secret)):
        if not _CREDENTIAL.fullmatch(value):
            raise BadRequest(f"{label} must be 8-128 letters, digits, '_' or '-'")
    if token == secret:
        raise BadRequest("the token is public and the secret private: they must differ")
    for limit_name, limit in (("max_cluster_ids", max_cluster_ids), ("max_merges", max_merges)):
        if limit is not None and limit < 1:
            raise BadRequest(f"{limit_name} must be at least 1, not {limit}")
    for other in store.projects():
        if other.name == name:
            raise ProjectExists(f"a project named {name!r} exists already")
        if token in (other.token, other.secret) or secret in (other.token, other.secret):
            raise ProjectExists("that token or secret is already used by another project")
    project = Project(
        id=max((p.id for p in store.projects()), default=0) + 1,
        name=name,
        token=token,
        secret=secret,
        mode=mode,
        created_at=now,
        max_cluster_ids=max_cluster_ids,
        max_merges=max_merges,
        junk_ids=junk_ids,
    )
    store.save_project(project)
    return project


def get_project(store: Store, name: str) -> Project:
    for project in store.projects():
        if project.name == name:
            return project
    known = ", ".join(p.name for p in store.projects()) or "none yet"
    raise ProjectNotFound(f"no project named {name!r} (projects: {known})")


def set_mode(store: Store, name: str, mode: Mode | str) -> Project:
    """Change a project's identity mode, which is allowed only while it holds no data."""
    project = get_project(store, name)
    mode = parse_mode(mode) if isinstance(mode, str) else mode
    if mode is project.mode:
        return project
    if store.holds_data(project.id):
        raise ModeFrozen(
            f"project {name!r} already holds data, so its identity mode stays "
            f"{project.mode.value!r}; create a new project to use {mode.value!r}"
        )
    changed = replace(project, mode=mode)
    store.save_project(changed)
    return changed
