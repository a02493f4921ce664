"""Which days of a look-back window a run writes again, and why.

A published day is a copy of the source at the moment of its extraction, but the source keeps
changing its past: orders are confirmed or cancelled, late tills upload, rows are corrected.
A run with a look-back re-checks the days before the ones it was asked for:

- d2s compares each window day's fingerprint, taken in the run's own snapshot, with the one
  recorded by the run that published the day, and extracts (in the same JDBC read as the asked
  days) every day that changed or was never published. Unchanged days are not read.
- s2s rebuilds each window day whose silver was built from another raw run than the one the
  raw day publishes now (a d2s restated it, a person reran it), or that has no silver yet.

What a day's published run recorded is found from the catalog: the day's location names the run
(`_runs/<run id>/`), whose record under `_audit/runs/` holds the day's fingerprint (d2s) or the
raw runs it was built from (s2s). With the crawler option a day is written in place and its
location names no run: a pointer `_audit/days/<table>/<day>.json` names it instead, removed
before the in-place write and written after it, so a run killed in between leaves no pointer and
the day counts as unknown, which restates it. Every uncertainty errs the same way: a day whose
record cannot be found is written again, never skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from retail_etl.lake import LakeTable
from retail_etl.publish import AUDIT_FOLDER, record_location, run_of
from retail_etl.source import EMPTY_FINGERPRINT

if TYPE_CHECKING:
    from retail_etl.audit import Run

ASKED, RESTATED, UNCHANGED = "asked", "restated", "unchanged"


@dataclass(frozen=True)
class Decision:
    """Why one day of one table is written by a run (asked, restated) or left (unchanged)."""

    table: str
    day: date
    decision: str
    reason: str = ""
    before: str | None = None  # d2s: the fingerprint recorded when the day was published
    after: str | None = None  # d2s: the fingerprint in this run's snapshot

    @property
    def written(self) -> bool:
        return self.decision != UNCHANGED

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "table": self.table,
            "day": self.day.isoformat(),
            "decision": self.decision,
        }
        if self.reason:
            record["reason"] = self.reason
        if self.before is not None or self.after is not None:
            record["fingerprint_before"] = self.before
            record["fingerprint_after"] = self.after
        return record


def pointer_location(run: Run, table: LakeTable, day: date) -> str:
    """The in-place mode's note of which run wrote `day` of `table`."""
    return f"{run.lake.root}/{AUDIT_FOLDER}/days/{table.name}/{day.isoformat()}.json"


def published_runs(
    run: Run,
    table: LakeTable,
    days: Sequence[date],
    locations: Mapping[date, str] | None = None,
) -> dict[date, str | None]:
    """The published days among `days` (`locations`, when already looked up), each with the
    run that published it (None: unknown, a location no run wrote, or an in-place day without
    its pointer). One catalog call."""
    if not days:
        return {}
    found = run.published(table, days) if locations is None else locations
    if not run.in_place:
        return {d: run_of(location) for d, location in found.items()}
    runs: dict[date, str | None] = {}
    for day in found:
        pointer = pointer_location(run, table, day)
        runs[day] = (
            json.loads(run.lake.read_text(pointer))["run_id"] if run.lake.exists(pointer) else None
        )
    return runs


class Records:
    """The run records of one job, read at most once each: a window is published by few runs."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._read: dict[str, dict[str, Any] | None] = {}

    def of(self, run_id: str | None) -> dict[str, Any] | None:
        if run_id is None:
            return None
        if run_id not in self._read:
            location = record_location(self.run.lake, run_id, self.run.job)
            self._read[run_id] = (
                json.loads(self.run.lake.read_text(location))
                if self.run.lake.exists(location)
                else None  # killed after publishing, before its record: nothing to trust
            )
        return self._read[run_id]

    def entry(self, run_id: str | None, field: str, table: LakeTable, day: date) -> Any:
        """`record[field][table][day]` of run `run_id`'s record, or None."""
        record = self.of(run_id) or {}
        return (record.get(field) or {}).get(table.name, {}).get(day.isoformat())


def extraction_plan(
    run: Run,
    table: LakeTable,
    asked: Sequence[date],
    window: Sequence[date],
    fingerprints: Mapping[date, str],
) -> list[Decision]:
    """d2s: every asked day, and each window day as its fingerprint in the snapshot decides it
    (`fingerprints`: days without rows absent)."""
    decisions = [Decision(table.name, day, ASKED) for day in asked]
    published = published_runs(run, table, window)
    records = Records(run)
    for day in window:
        now = fingerprints.get(day, EMPTY_FINGERPRINT)
        if day not in published:
            decisions.append(
                Decision(table.name, day, UNCHANGED, "no rows, none published")
                if now == EMPTY_FINGERPRINT
                else Decision(table.name, day, RESTATED, "never published", None, now)
            )
            continue
        before = records.entry(published[day], "fingerprints", table, day)
        if before is None:
            decisions.append(Decision(table.name, day, RESTATED, "fingerprint unknown", None, now))
        elif before != now:
            decisions.append(Decision(table.name, day, RESTATED, "changed", before, now))
        else:
            decisions.append(Decision(table.name, day, UNCHANGED, "", before, now))
    return decisions


def rebuild_plan(
    run: Run,
    raw: LakeTable,
    silver_tables: Sequence[LakeTable],
    asked: Sequence[date],
    window: Sequence[date],
) -> list[Decision]:
    """s2s: every asked day, and each window day whose silver tables (all of them: they are
    published together) do not follow the raw run published now."""
    decisions = [Decision(t.name, day, ASKED) for day in asked for t in silver_tables]
    if not window:
        return decisions
    raw_runs = published_runs(run, raw, window)
    records = Records(run)
    built = {t: published_runs(run, t, window) for t in silver_tables}
    for day in window:
        reasons = []
        for silver in silver_tables:
            if day not in built[silver]:
                if day in raw_runs:  # (or every raw row of the day is filtered out: rebuilt)
                    reasons.append("not built")
                continue
            recorded = records.of(built[silver][day])
            source_run = records.entry(built[silver][day], "built_from", silver, day)
            if recorded is None:
                reasons.append("built by an unknown run")
            elif source_run != raw_runs.get(day):
                reasons.append("raw republished")
        decision = RESTATED if reasons else UNCHANGED
        for silver in silver_tables:
            decisions.append(Decision(silver.name, day, decision, reasons[0] if reasons else ""))
    return decisions


def days_to_write(decisions: Sequence[Decision]) -> list[date]:
    return sorted({d.day for d in decisions if d.written})


def summary(decisions: Sequence[Decision]) -> str:
    """`restated 2015-01-03, 2015-01-04 (changed); 2015-01-02 (never published)`, or ""."""
    return describe([(d.day.isoformat(), d.reason) for d in decisions if d.decision == RESTATED])


def describe(restated: Sequence[tuple[str, str]]) -> str:
    """(day, reason) pairs as one line, days grouped by reason."""
    by_reason: dict[str, set[str]] = {}
    for day, reason in restated:
        by_reason.setdefault(reason, set()).add(day)
    groups = sorted(by_reason.items(), key=lambda group: min(group[1]))
    return ("restated " + "; ".join(
        f"{', '.join(sorted(days))} ({reason})" for reason, days in groups
    )) if groups else ""  # fmt: skip
