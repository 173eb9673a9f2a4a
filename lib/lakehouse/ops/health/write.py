"""The health report on disk: ``report.json`` and ``report.html`` side by side.

Each file is written beside its final name and renamed over it, so a reader
never sees half a report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lakehouse.core.clock import iso_z
from lakehouse.ops.health.html import render_html


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value, "auto")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"report value of type {type(value).__name__} is not JSON: {value!r}")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` (indent 2) and ``report.html`` into out_dir (created if needed).

    Returns (json path, html path). Each file is replaced atomically, so a reader never
    sees half a report.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    html_path = out_dir / "report.html"
    text = json.dumps(report, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    page = render_html(report)
    _write_atomic(json_path, text)
    _write_atomic(html_path, page)
    return json_path, html_path
