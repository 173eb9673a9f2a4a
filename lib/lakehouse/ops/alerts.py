"""Alerts: tell a human (or a chat channel) that a job failed, ran late or went stale.

A job builds :class:`Alert` objects and hands them to an :class:`Alerter` made
from the pipeline's ``alerts:`` sinks (see :class:`lakehouse.config.model.AlertSink`)::

    alerter = Alerter(pipeline.alerts, state=FileState(lake / "_ops/alert_state.json"),
                      base_dir=settings.lake_root)
    report = alerter.send([Alert(event="failure", job="batch_load", pipeline="orders",
                                 title="batch_load failed for 2026-11-25")])
    ledger_details.update(report.as_details())

Three sinks exist: ``log`` (one line on the logger), ``file`` (JSON lines) and
``webhook`` (an HTTP POST shaped like a Slack incoming-webhook message).

Guarantees:

- :meth:`Alerter.send` never raises: an alert must not turn a job's outcome
  into a different one. Problems are logged and counted in the
  :class:`AlertReport`.
- The same condition (alert ``key``) goes to a sink at most once per the sink's
  ``min_interval``; the last delivery times live in an :class:`AlertState`
  (a small JSON file with :class:`FileState`). A failed delivery is not
  recorded, so the next run tries again.
- Webhook URLs carry secrets: they never appear in errors, logs or state
  (sinks are named by kind plus a short hash; URLs are cut to
  ``scheme://host:port``).
- One webhook delivery takes at most ``timeout`` seconds (DNS included), and a
  webhook that did not answer is not tried again in the same ``send``.

This module stays on the ground floor: no Spark, no other ``lib`` module at
runtime (``lakehouse.config.model`` is imported for type checking only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal, Protocol

from lakehouse.core.clock import as_utc, utcnow

if TYPE_CHECKING:
    from lakehouse.config.model import AlertSink

log = logging.getLogger(__name__)

EventName = Literal["failure", "success", "sla_miss", "stale", "quality"]
Level = Literal["info", "warning", "error"]

EVENTS: tuple[str, ...] = ("failure", "success", "sla_miss", "stale", "quality")
LEVELS: tuple[str, ...] = ("info", "warning", "error")
DEFAULT_LEVEL: dict[str, Level] = {
    "failure": "error",
    "quality": "error",
    "sla_miss": "warning",
    "stale": "warning",
    "success": "info",
}

STATE_RETENTION = timedelta(days=7)
FOOTER = "lakehouse-jobs"
_TITLE_LIMIT = 300
_TEXT_LIMIT = 3000
_ERROR_LIMIT = 300
_MARKERS = {"error": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
_COLORS = {"error": "#E01E5A", "warning": "#ECB22E", "info": "#439FE0"}
_SUCCESS_MARKER = ":white_check_mark:"
_SUCCESS_COLOR = "#2EB67D"


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def _parse_iso(text: Any) -> datetime | None:
    """A time written by :func:`_iso`, or None when ``text`` is not one."""
    if not isinstance(text, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def json_safe(value: Any) -> Any:
    """``value`` made JSON-serialisable: dates as ISO text, unknown objects as ``str``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return _iso(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


# --------------------------------------------------------------------------
# Alerts


@dataclass(frozen=True)
class Alert:
    """One thing worth telling someone about.

    ``key`` names "the same condition" for duplicate suppression; it defaults
    to ``<event>:<pipeline>:<job>``. ``level`` defaults from the event
    (failure/quality: error, sla_miss/stale: warning, success: info).
    ``at`` is when it happened (UTC); when None the alerter's clock is used.
    """

    event: EventName
    job: str
    pipeline: str | None
    title: str
    text: str = ""
    level: Level | None = None
    key: str | None = None
    run_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown alert event {self.event!r}: use one of {', '.join(EVENTS)}")
        if self.level is None:
            object.__setattr__(self, "level", DEFAULT_LEVEL[self.event])
        elif self.level not in LEVELS:
            raise ValueError(f"unknown alert level {self.level!r}: use one of {', '.join(LEVELS)}")
        title = " ".join(str(self.title).split())
        object.__setattr__(self, "title", title)
        if self.key is None:
            object.__setattr__(self, "key", f"{self.event}:{self.pipeline}:{self.job}")
        object.__setattr__(self, "fields", dict(self.fields))
        if self.at is not None:
            object.__setattr__(self, "at", as_utc(self.at))

    @property
    def where(self) -> str:
        """``<pipeline>/<job>`` (``-`` for no pipeline)."""
        return f"{self.pipeline or '-'}/{self.job}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every attribute (``at`` as ISO UTC text)."""
        return {
            "event": self.event,
            "level": self.level,
            "job": self.job,
            "pipeline": self.pipeline,
            "title": self.title,
            "text": self.text,
            "key": self.key,
            "run_id": self.run_id,
            "fields": json_safe(self.fields),
            "at": _iso(self.at) if self.at else None,
        }


# --------------------------------------------------------------------------
# Duplicate-suppression state


class AlertState(Protocol):
    """Where the last delivery times live: ``"<sink id>|<alert key>" -> ISO UTC time``."""

    def load(self) -> dict[str, str]:
        """The stored state; empty when there is none."""
        ...

    def save(self, state: dict[str, str]) -> None:
        """Replace the stored state with ``state``."""
        ...


class MemoryState:
    """State kept in memory: suppression works within one process only."""

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self.data: dict[str, str] = dict(initial or {})

    def load(self) -> dict[str, str]:
        """A copy of the current state."""
        return dict(self.data)

    def save(self, state: dict[str, str]) -> None:
        """Keep a copy of ``state``."""
        self.data = dict(state)


class FileState:
    """State in a local JSON file, replaced atomically on save.

    A missing file is an empty state; so is a corrupt one (with a warning).
    Two jobs saving at the same moment may lose one's entries: the worst
    case is one duplicate alert.
    """

    def __init__(self, path: str | os.PathLike[str], *, logger: logging.Logger | None = None):
        self.path = Path(path)
        self.log = logger or log

    def load(self) -> dict[str, str]:
        """The stored state; empty when the file is missing or unreadable."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.log.warning("alert state %s unreadable, starting empty: %s", self.path, exc)
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            self.log.warning("alert state %s is corrupt, starting empty: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            self.log.warning("alert state %s is not a JSON object, starting empty", self.path)
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def save(self, state: dict[str, str]) -> None:
        """Write ``state`` to a temporary file next to the target, then rename it over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out, indent=1, sort_keys=True)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# --------------------------------------------------------------------------
# Report


@dataclass
class AlertReport:
    """What one :meth:`Alerter.send` did. ``errors`` are one-line, secret-free messages."""

    sent: int = 0
    suppressed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed (suppressed alerts are fine)."""
        return self.failed == 0 and not self.errors

    def as_details(self) -> dict[str, Any]:
        """Small dict for the run ledger's details; ``alert_errors`` only when there are any."""
        details: dict[str, Any] = {
            "alerts_sent": self.sent,
            "alerts_suppressed": self.suppressed,
            "alerts_failed": self.failed,
        }
        if self.errors:
            details["alert_errors"] = self.errors[:10]
        return details


# --------------------------------------------------------------------------
# Secrets


def redact_url(url: str) -> str:
    """``scheme://host:port`` of ``url``: no user info, path, query or fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<url>"
    if not parts.scheme:
        return "<url>"
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{parts.scheme}://{host}:{port}" if port else f"{parts.scheme}://{host}"


def _scrub(text: str, url: str | None) -> str:
    """``text`` without ``url`` or its path/query, cut to one short line."""
    if url:
        safe = redact_url(url)
        text = text.replace(url, safe)
        parts = urllib.parse.urlsplit(url)
        for piece in (parts.path, parts.query, parts.fragment, parts.netloc):
            if len(piece) > 1 and piece not in safe:
                text = text.replace(piece, "<redacted>")
    line = " ".join(text.split())
    return line if len(line) <= _ERROR_LIMIT else line[: _ERROR_LIMIT - 3] + "..."


def sink_id(sink: AlertSink) -> str:
    """Stable name of a sink: its kind plus a short hash of its URL or path."""
    target = sink.url if sink.sink == "webhook" else sink.path
    if not target:
        return sink.sink
    digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:12]
    return f"{sink.sink}:{digest}"


def _sink_label(sink: AlertSink) -> str:
    """How errors name a sink: ``webhook http://host:443``, ``file _ops/alerts.jsonl``."""
    if sink.sink == "webhook":
        return f"webhook {redact_url(sink.url or '')}"
    if sink.sink == "file":
        return f"file {sink.path}"
    return sink.sink


# --------------------------------------------------------------------------
# Delivery


class WebhookError(Exception):
    """A webhook did not take the alert; ``unreachable`` when it did not answer at all."""

    def __init__(self, message: str, *, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a 3xx is a failed delivery, not a second request elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def slack_payload(alert: Alert, at: datetime) -> dict[str, Any]:
    """A Slack incoming-webhook message for ``alert``, plus a ``lakehouse`` object."""
    level = alert.level or "error"
    success = alert.event == "success"
    marker = _SUCCESS_MARKER if success else _MARKERS[level]
    color = _SUCCESS_COLOR if success else _COLORS[level]
    title = alert.title[:_TITLE_LIMIT]
    text = f"{marker} {title}"
    if alert.text:
        text += "\n" + alert.text[:_TEXT_LIMIT]
    facts: dict[str, Any] = {"pipeline": alert.pipeline or "-", "job": alert.job}
    if alert.run_id:
        facts["run_id"] = alert.run_id
    facts.update(json_safe(alert.fields))
    return {
        "text": text,
        "attachments": [
            {
                "color": color,
                "fields": [
                    {"title": str(k), "value": str(v), "short": True} for k, v in facts.items()
                ],
                "footer": FOOTER,
                "ts": int(at.timestamp()),
            }
        ],
        "lakehouse": {
            "event": alert.event,
            "level": level,
            "job": alert.job,
            "pipeline": alert.pipeline,
            "run_id": alert.run_id,
            "key": alert.key,
            "fields": json_safe(alert.fields),
            "at": _iso(at),
        },
    }


def post_json(url: str, payload: Mapping[str, Any], timeout: float) -> int:
    """POST ``payload`` as JSON to ``url``; the HTTP status, or :class:`WebhookError`.

    One attempt, at most ``timeout`` seconds in all (name lookup included):
    the request runs on a daemon thread that is abandoned when late.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookError("webhook URL must start with http:// or https://")
    body = json.dumps(payload, allow_nan=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": FOOTER},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read(65536)
                outcome["status"] = response.status
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, name="alert-webhook", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise WebhookError(f"no answer within {timeout:g}s", unreachable=True)
    error = outcome.get("error")
    if isinstance(error, urllib.error.HTTPError):
        raise WebhookError(f"HTTP {error.code} {error.reason}")
    if isinstance(error, urllib.error.URLError):
        raise WebhookError(f"cannot reach: {error.reason}", unreachable=True)
    if isinstance(error, (TimeoutError, ConnectionError)):
        raise WebhookError(f"cannot reach: {error}", unreachable=True)
    if error is not None:
        raise error
    status = int(outcome["status"])
    if not 200 <= status < 300:
        raise WebhookError(f"HTTP {status}")
    return status


def _local_dir(base_dir: str | os.PathLike[str]) -> Path:
    """``base_dir`` as a local folder (``file:`` URIs accepted)."""
    text = os.fspath(base_dir)
    if text.startswith("file:"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(text).path))
    if "://" in text:
        raise ValueError(f"a file sink with a relative path needs a local base folder, not {text}")
    return Path(text)


class Alerter:
    """Routes alerts to the active sinks that carry their event, once per ``min_interval``."""

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        *,
        state: AlertState | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        now: Callable[[], datetime] = utcnow,
        timeout: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.sinks = tuple(sinks)
        self.state: AlertState = state if state is not None else MemoryState()
        self.base_dir = base_dir
        self.now = now
        self.timeout = timeout
        self.log = logger or log

    # ---- public

    def send(self, alerts: Iterable[Alert]) -> AlertReport:
        """Deliver ``alerts``; never raises. Returns the counts and one-line errors."""
        report = AlertReport()
        try:
            self._send(list(alerts), report)
        except Exception as exc:  # a bug here must not change the job's outcome
            self._error(report, f"alerts: unexpected error: {type(exc).__name__}: {exc}", None)
        return report

    def file_path(self, sink: AlertSink) -> Path:
        """Where a file sink writes: absolute as configured, else below ``base_dir``."""
        path = Path(sink.path or "")
        if path.is_absolute() or self.base_dir is None:
            return path
        return _local_dir(self.base_dir) / path

    # ---- internals

    def _send(self, alerts: list[Alert], report: AlertReport) -> None:
        routes = [
            (alert, sink)
            for alert in alerts
            for sink in self.sinks
            if sink.active and (alert.event in sink.on or "all" in sink.on)
        ]
        if not routes:
            return
        now = as_utc(self.now())
        try:
            state = dict(self.state.load())
        except Exception as exc:
            self._error(report, f"alert state unreadable, starting empty: {exc}", None)
            state = {}
        before = dict(state)
        unreachable: set[str] = set()
        for alert, sink in routes:
            ident = sink_id(sink)
            slot = f"{ident}|{alert.key}"
            label = f"{_sink_label(sink)}: {alert.event} {alert.where}"
            try:
                if ident in unreachable:
                    report.failed += 1
                    self._error(report, f"{label}: skipped, sink unreachable", sink.url)
                    continue
                last = _parse_iso(state.get(slot))
                interval = timedelta(seconds=sink.min_interval.seconds)
                if last is not None and now - last < interval:
                    report.suppressed += 1
                    continue
                self._deliver(sink, alert, now)
            except Exception as exc:
                report.failed += 1
                if isinstance(exc, WebhookError) and exc.unreachable:
                    unreachable.add(ident)
                reason = str(exc) or type(exc).__name__
                if not isinstance(exc, (WebhookError, OSError)):
                    reason = f"{type(exc).__name__}: {reason}"
                self._error(report, f"{label}: {reason}", sink.url)
                continue
            state[slot] = _iso(now)
            report.sent += 1
        state = self._prune(state, now)
        if state != before:
            try:
                self.state.save(state)
            except Exception as exc:
                self._error(report, f"alert state not saved: {exc}", None)

    def _deliver(self, sink: AlertSink, alert: Alert, now: datetime) -> None:
        at = alert.at or now
        if sink.sink == "log":
            line = f"[{alert.level}] {alert.event} {alert.where}: {alert.title}"
            level = {"error": logging.ERROR, "warning": logging.WARNING}.get(
                alert.level or "", logging.INFO
            )
            self.log.log(level, "%s", line)
        elif sink.sink == "file":
            record = alert.to_dict()
            record["at"] = _iso(at)
            record["sent_at"] = _iso(now)
            data = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode()
            path = self.file_path(sink)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab", buffering=0) as out:  # O_APPEND: one write, one line
                out.write(data)
                out.flush()
        elif sink.sink == "webhook":
            post_json(sink.url or "", slack_payload(alert, at), self.timeout)
        else:
            raise ValueError(f"unknown sink kind {sink.sink!r}")

    def _prune(self, state: dict[str, str], now: datetime) -> dict[str, str]:
        """Drop entries older than the retention (or the longest interval) and unreadable ones."""
        longest = max((s.min_interval.seconds for s in self.sinks), default=0.0)
        keep = max(STATE_RETENTION, timedelta(seconds=longest))
        kept = {}
        for slot, text in state.items():
            moment = _parse_iso(text)
            if moment is not None and now - moment < keep:
                kept[slot] = text
        return kept

    def _error(self, report: AlertReport, message: str, url: str | None) -> None:
        line = _scrub(message, url)
        report.errors.append(line)
        self.log.warning("%s", line)
