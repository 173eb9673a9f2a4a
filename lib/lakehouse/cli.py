"""The ``lakehouse`` console command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("lakehouse: commands come next", file=sys.stderr)
    return 2
