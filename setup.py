"""Compiles the identity engine with mypyc at install time (about twice as fast; see
benchmarks/README.md) when a C compiler is present, and installs it as plain Python
otherwise. ``IDMERGE_PURE_PYTHON=1`` asks for plain Python, which is what to use while
editing the engine: a compiled module does not see source edits."""

import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

IDENTITY = Path("src/idmerge/identity")


def c_compiler() -> str | None:
    """The compiler a build of extensions would call, if it is installed."""
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or ""
    words = shlex.split(command)
    return shutil.which(words[0]) if words else None


def identity_extensions() -> list:
    if os.environ.get("IDMERGE_PURE_PYTHON"):
        return []
    if c_compiler() is None:
        print("idmerge: no C compiler; the engine installs as plain Python", file=sys.stderr)
        return []
    from mypyc.build import mypycify  # noqa: PLC0415 - only when compiling

    sources = sorted(str(p) for p in IDENTITY.glob("*.py"))
    return mypycify(["--config-file=pyproject.toml", *sources], opt_level="3")


setup(ext_modules=identity_extensions())
