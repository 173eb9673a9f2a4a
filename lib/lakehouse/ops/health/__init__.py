"""The health report: built from the ledger and the tables, shown as text and as a page.

``build`` reads (Spark), ``text`` and ``html`` render, ``model`` is the shape
between them.
"""

from __future__ import annotations

from lakehouse.ops.health.build import build_report, stale_alerts
from lakehouse.ops.health.model import HealthReport
from lakehouse.ops.health.text import render_text

__all__ = ["HealthReport", "build_report", "render_text", "stale_alerts"]
