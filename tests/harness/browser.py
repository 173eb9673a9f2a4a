"""Headless Chromium (Debian's package) for checks of the HTML report."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def chromium_binary() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def run_chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium did not finish in 60 s: {command}\n{exc.stderr!r}")
    assert result.returncode == 0, f"chromium exit {result.returncode}:\n{result.stderr[-3000:]}"
    return result


def require_chromium() -> str:
    """The browser, or a skip (a failure when LAKEHOUSE_REQUIRE_BROWSER=1, as in CI)."""
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("LAKEHOUSE_REQUIRE_BROWSER") == "1":
            pytest.fail("LAKEHOUSE_REQUIRE_BROWSER=1 but no chromium (/usr/bin/chromium or PATH)")
        pytest.skip(
            "chromium not installed: the page was only checked with html.parser "
            "(scripts/setup.sh installs it as root; LAKEHOUSE_REQUIRE_BROWSER=1 makes this fail)"
        )
    return binary
