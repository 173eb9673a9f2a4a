"""The health report: built from the ledger and the tables, shown as text and as a page.

``build`` reads (Spark); ``text`` renders the printed table; ``html`` the page,
with ``charts`` (its SVG) and ``values`` (the report's values formatted for it);
``write`` puts report.json and report.html on disk; ``model`` is the report's
shape between them.
"""

from __future__ import annotations

from lakehouse.ops.health.build import build_report, stale_alerts
from lakehouse.ops.health.html import render_html
from lakehouse.ops.health.model import HealthReport
from lakehouse.ops.health.text import render_text
from lakehouse.ops.health.write import write_report

__all__ = [
    "HealthReport",
    "build_report",
    "render_html",
    "render_text",
    "stale_alerts",
    "write_report",
]
