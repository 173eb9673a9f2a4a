"""What a rule set found: one result per rule, and the report of a batch.

Plain data, no DataFrames: the engine builds these, the jobs judge the gate with
them, the ledger and the health page read their dictionaries, and a stream
adds its micro-batches' reports together with :meth:`QualityReport.combine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lakehouse.core.errors import QualityGateError
from lakehouse.quality.kinds import KINDS


@dataclass(frozen=True)
class RuleResult:
    """What one rule found in one batch of data."""

    rule: str
    kind: str
    severity: str
    rows_checked: int
    rows_failed: int | None  # None for dataset rules: they pass or fail as a whole
    passed: bool
    samples: tuple[str, ...] = ()
    detail: str | None = None

    @property
    def level(self) -> str:
        """``row`` or ``dataset``, as the rule's kind declares (``dataset`` if unknown)."""
        kind = KINDS.get(self.kind)
        return kind.level if kind is not None else "dataset"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ledger and the health report)."""
        return {**asdict(self), "samples": list(self.samples), "level": self.level}


@dataclass
class QualityReport:
    """All rule results of one batch, and what happened to its rows."""

    results: list[RuleResult] = field(default_factory=list)
    rows_checked: int = 0
    rows_dropped: int = 0
    rows_quarantined: int = 0

    @property
    def gate_failures(self) -> list[RuleResult]:
        """Rules of severity ``fail`` that did not pass."""
        return [r for r in self.results if r.severity == "fail" and not r.passed]

    @property
    def gate_failed(self) -> bool:
        """Whether the data must not be published."""
        return bool(self.gate_failures)

    @property
    def broken(self) -> list[RuleResult]:
        """Every rule that did not pass, whatever its severity."""
        return [r for r in self.results if not r.passed]

    def message(self) -> str:
        """One line naming the rules that failed the gate (or that did not pass)."""
        failures = self.gate_failures or self.broken
        if not failures:
            return f"all {len(self.results)} rules passed on {self.rows_checked} rows"
        parts = []
        for r in failures:
            if r.rows_failed is not None:
                text = f"{r.rule} ({r.rows_failed} of {r.rows_checked} rows"
                text += f", e.g. {', '.join(r.samples[:3])})" if r.samples else ")"
            else:
                text = f"{r.rule} ({r.detail})"
            parts.append(text)
        head = "quality gate failed" if self.gate_failed else "quality rules broken"
        return f"{head}: {'; '.join(parts)}"

    def raise_for_gate(self) -> None:
        """Raise QualityGateError (exit 3) when a ``fail`` rule did not pass."""
        if self.gate_failed:
            raise QualityGateError(self.message())

    def summary(self) -> dict[str, Any]:
        """The short form kept in the run ledger's details."""
        return {
            "rows_checked": self.rows_checked,
            "rows_dropped": self.rows_dropped,
            "rows_quarantined": self.rows_quarantined,
            "rules": len(self.results),
            "broken": {
                r.rule: r.rows_failed if r.rows_failed is not None else 1 for r in self.broken
            },
            "gate": "failed" if self.gate_failed else "passed",
        }

    @classmethod
    def combine(cls, reports: Sequence[QualityReport]) -> QualityReport:
        """One report of several batches (a stream's micro-batches): counts added per rule."""
        merged: dict[str, RuleResult] = {}
        total = cls()
        for report in reports:
            total.rows_checked += report.rows_checked
            total.rows_dropped += report.rows_dropped
            total.rows_quarantined += report.rows_quarantined
            for r in report.results:
                old = merged.get(r.rule)
                if old is None:
                    merged[r.rule] = r
                    continue
                failed = None
                if old.rows_failed is not None or r.rows_failed is not None:
                    failed = (old.rows_failed or 0) + (r.rows_failed or 0)
                checked = old.rows_checked + r.rows_checked
                if failed is not None:
                    detail = f"{failed} of {checked} rows" if failed else None
                else:
                    detail = r.detail if not r.passed else old.detail
                merged[r.rule] = RuleResult(
                    rule=r.rule,
                    kind=r.kind,
                    severity=r.severity,
                    rows_checked=checked,
                    rows_failed=failed,
                    passed=old.passed and r.passed,
                    samples=(old.samples + r.samples)[: max(len(old.samples), 5)],
                    detail=detail,
                )
        total.results = list(merged.values())
        return total
