"""Where the project's own folders are: the config, the jar cache, the build folder."""

from __future__ import annotations

import os
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[3]  # lib/lakehouse/core/paths.py -> the checkout


def project_root() -> Path:
    """The project folder: ``LAKEHOUSE_HOME``, else the source checkout, else the working folder.

    A checkout is recognised by its ``pyproject.toml``; an installed wheel (or
    the zip spark-submit ships) has none, so there the working folder (or
    ``LAKEHOUSE_HOME``, which the launcher sets) is the project.
    """
    home = os.environ.get("LAKEHOUSE_HOME")
    if home:
        return Path(home)
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / "lib").is_dir():
        return _SOURCE_ROOT
    return Path.cwd()
