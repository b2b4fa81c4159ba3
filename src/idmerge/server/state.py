"""What the server holds while it runs: the store, the projects and their writers."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from idmerge.errors import StoreUnavailable
from idmerge.ingest.pipeline import ProjectWriter
from idmerge.projects import DEFAULT_PROJECT, Project, create_project
from idmerge.query.profiles import EngageSessions
from idmerge.server.writer import GroupCommitter
from idmerge.storage.base import Store

log = logging.getLogger("idmerge.server")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ServerState:
    store: Store
    committer: GroupCommitter = field(default_factory=GroupCommitter)
    writers: dict[int, ProjectWriter] = field(default_factory=dict)
    #: the id lists behind engage's paging sessions
    engage_sessions: EngageSessions = field(default_factory=EngageSessions)
    _by_token: dict[str, Project] = field(default_factory=dict)
    _by_secret: dict[str, Project] = field(default_factory=dict)

    @classmethod
    def open(cls, store: Store) -> ServerState:
        """Load every project's engine and profiles; on an empty store, create the
        default project so that a first start needs no set-up."""
        if not store.projects():
            project = create_project(store, DEFAULT_PROJECT, now=now_ms())
            log.warning(
                "created project %r (mode %s): token %s, secret %s",
                project.name,
                project.mode.value,
                project.token,
                project.secret,
            )
        state = cls(store)
        for project in store.projects():
            started = time.perf_counter()
            try:
                store.prepare_writes(project.id)
            except StoreUnavailable as exc:  # its writes will fail, saying why; reads work
                log.error("project %r takes no writes: %s", project.name, exc)
            state.writers[project.id] = ProjectWriter(store, project)
            state._by_token[project.token] = project
            state._by_secret[project.secret] = project
            log.info(
                "project %r (mode %s) loaded in %.2f s",
                project.name,
                project.mode.value,
                time.perf_counter() - started,
            )
        return state

    def by_token(self, token: str) -> Project | None:
        return self._by_token.get(token)

    def by_secret(self, secret: str, project_id: str | None = None) -> Project | None:
        """The project whose secret this is; ``project_id`` (its id or its name), when
        given, must name that same project."""
        project = self._by_secret.get(secret)
        if project is None or project_id is None:
            return project
        return project if project_id in (str(project.id), project.name) else None

    def writer(self, project: Project) -> ProjectWriter:
        return self.writers[project.id]

    def close(self) -> None:
        self.committer.close()
        self.store.close()
