"""After the run: freshness, SLAs, alerts and their delivery, and the health report (text and
HTML).
"""

from __future__ import annotations

from lakehouse.ops.health import build_report, render_text, stale_alerts
from lakehouse.ops.notify import alerter
from lakehouse.ops.report import write_report

__all__ = ["alerter", "build_report", "render_text", "stale_alerts", "write_report"]
