"""After the run: freshness, SLAs, alerts and their delivery, and the health report (text and
HTML).
"""

from __future__ import annotations

from lakehouse.ops.health import build_report, render_text, stale_alerts, write_report
from lakehouse.ops.notify import alerter

__all__ = ["alerter", "build_report", "render_text", "stale_alerts", "write_report"]
