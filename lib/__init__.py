"""lakehouse-jobs shared library: config, session, ledger, and the capabilities above them."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The repository folder (``LAKEHOUSE_HOME`` when lib/ runs from a zip)."""
    home = os.environ.get("LAKEHOUSE_HOME")
    return Path(home) if home else Path(__file__).resolve().parent.parent
