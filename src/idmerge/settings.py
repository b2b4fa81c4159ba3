"""The one settings object: command-line flags over ``IDMERGE_*`` variables over a file.

Every setting is declared once in :data:`SETTINGS`; the README's settings table is
checked against it by the test suite, so a new setting cannot go undocumented.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idmerge.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "IDMERGE_DATA_DIR",
        "./idmerge-data",
        "Directory of the embedded DuckDB database (created when missing).",
    ),
    Setting("host", "IDMERGE_HOST", "127.0.0.1", "Address `idmerge serve` listens on."),
    Setting("port", "IDMERGE_PORT", "8000", "Port `idmerge serve` listens on."),
    Setting(
        "memory_limit",
        "IDMERGE_MEMORY_LIMIT",
        "2GB",
        "Most memory DuckDB may hold (its page cache and query work; past it, queries "
        "spill to disk). Exports stream within it, whatever their size.",
    ),
)

#: Where settings are read from a file: ``--config``, else ``$IDMERGE_CONFIG``, else
#: ``./idmerge.toml`` when it exists. Keys are the setting names, at the top level.
CONFIG_ENV = "IDMERGE_CONFIG"
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
DEFAULT_CONFIG_FILE = "idmerge.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    memory_limit: str = "2GB"

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        config: str | Path | None = None,
    ) -> Settings:
        """Resolve every setting: a flag given wins, then the environment, then the file."""
        flags = flags or {}
        env = os.environ if env is None else env
        from_file = _read_file(config, env)
        values: dict[str, str] = {}
        for setting in SETTINGS:
            flag = flags.get(setting.name)
            if flag is not None:
                values[setting.name] = str(flag)
            elif env.get(setting.env):
                values[setting.name] = env[setting.env]
            elif setting.name in from_file:
                values[setting.name] = str(from_file[setting.name])
            else:
                values[setting.name] = setting.default
        port = values["port"]
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise BadRequest(f"port must be a number from 0 to 65535, not {port!r}")
        limit = values["memory_limit"].strip()
        if not _MEMORY.fullmatch(limit):
            raise BadRequest(
                f"memory_limit must be a size such as 512MB or 2GB, not {values['memory_limit']!r}"
            )
        return cls(
            data_dir=Path(values["data_dir"]),
            host=values["host"],
            port=int(port),
            memory_limit=limit,
        )


def _read_file(config: str | Path | None, env: Mapping[str, str]) -> dict[str, Any]:
    explicit = config if config is not None else env.get(CONFIG_ENV)
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    if not path.exists():
        if explicit:
            raise BadRequest(f"settings file {str(path)!r} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"settings file {str(path)!r} is not valid TOML: {exc}") from exc
    known = {s.name for s in SETTINGS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadRequest(
            f"settings file {str(path)!r} has unknown settings {unknown}; known: {sorted(known)}"
        )
    return data
