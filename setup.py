"""Compiles the identity engine with mypyc at install time (about twice as fast; see
benchmarks/README.md). ``IDMERGE_PURE_PYTHON=1`` installs it as plain Python, which is
what to use while editing the engine: a compiled module does not see source edits."""

import os
from pathlib import Path

from setuptools import setup

IDENTITY = Path("src/idmerge/identity")


def identity_extensions() -> list:
    if os.environ.get("IDMERGE_PURE_PYTHON"):
        return []
    from mypyc.build import mypycify  # noqa: PLC0415 - only when compiling

    sources = sorted(str(p) for p in IDENTITY.glob("*.py"))
    return mypycify(["--config-file=pyproject.toml", *sources], opt_level="3")


setup(ext_modules=identity_extensions())
