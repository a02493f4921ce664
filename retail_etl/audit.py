"""A job run's life: prepare the catalog, check gates, publish, and leave a record of it all.

Every run writes `_audit/runs/<run id>.<job>.json` under the lake root, whether it published
or failed: run id, job, days, rows per table and day, every gate with expected and found values,
what it published and what it replaced, seconds, and the error if any. `retail-etl history`
lists them; on Glue the record is also printed to the job's log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from pyspark.sql import DataFrame

from retail_etl import contract, gates, restate
from retail_etl.catalogs import Catalog, DayChange
from retail_etl.errors import one_line
from retail_etl.lake import PARTITION_COLUMN, Lake, LakeTable
from retail_etl.publish import (
    AUDIT_FOLDER,
    Output,
    Switch,
    new_run_id,
    publish,
    record_location,
    roll_forward,
)
from retail_etl.restate import Decision


@dataclass
class Run:
    """One run of one job: its id, where it writes, and what it found and did."""

    job: str
    lake: Lake
    catalog: Catalog
    run_id: str = field(default_factory=new_run_id)
    glue_job_run_id: str | None = None
    # The crawler option: write each day in place (`<table>/extract_date=D/`, dynamic partition
    # overwrite) and leave the cataloguing to the crawlers, but for days that became empty,
    # which a crawler never removes.
    in_place: bool = False
    days: list[date] = field(default_factory=list)  # the days the run was asked for
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    gate_results: list[gates.GateResult] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    rolled_forward: list[str] = field(default_factory=list)
    rolled_forward_switches: list[tuple[str, Switch]] = field(default_factory=list)
    # Why each day was written or left (`restate.Decision`), and what a look-back compares with
    # later: d2s, each written day's source fingerprint; s2s, the raw run each day was built from.
    decisions: list[Decision] = field(default_factory=list)
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    built_from: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # Seconds spent in each phase (`phase`), in the record, so a slower run names its phase.
    phases: dict[str, float] = field(default_factory=dict)
    _clock: float = field(default_factory=time.monotonic)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a part of the run (seconds add up per name), and give the Spark jobs it starts
        the phase's name as their description, so the UI and an event log say which phase
        each stage ran for."""
        context = self.lake.spark.sparkContext
        context.setJobDescription(f"{self.job}: {name}")
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.monotonic() - started, 3)
            context.setJobDescription(None)  # type: ignore[arg-type]

    def prepare(self, tables: Iterable[LakeTable]) -> None:
        """Make sure the tables exist in the catalog, and finish any publish a killed run left."""
        tables = list(tables)
        for table in tables:
            self.catalog.ensure_table(table, self.lake.location(table))
        self.rolled_forward += roll_forward(
            self.lake, self.catalog, tables, self.rolled_forward_switches
        )

    def published(self, table: LakeTable, days: Sequence[date]) -> dict[date, str]:
        """The days of `table` that are published, each with its location: the catalog's
        partitions, or with the crawler option the day folders that exist."""
        if self.in_place:
            return {
                d: self.lake.partition_location(table, d)
                for d in days
                if self.lake.has_day(table, d)
            }
        return self.catalog.day_locations(table, days)

    def read_published(
        self,
        table: LakeTable,
        days: Sequence[date],
        locations: Mapping[date, str] | None = None,
        in_cents: Iterable[str] = (),
    ) -> DataFrame | None:
        """The days of `table` that the catalog publishes (`locations`, when already looked
        up), with each row's `extract_date` (None: none of the days has rows); the money
        columns `in_cents` as in `_read`."""
        if locations is None:
            locations = self.published(table, days)
        return self._read(table, locations, in_cents)

    def _read(
        self, table: LakeTable, locations: Mapping[date, str], in_cents: Iterable[str] = ()
    ) -> DataFrame | None:
        """The days at `locations` (day folders of `table`), with `extract_date`; the money
        columns `in_cents` as whole cents where `gates.read_in_cents` can (not in place)."""
        if not locations:
            return None
        if self.in_place:
            columns = [n for n, _ in contract.of(table).columns]
            return self.lake.read_days(table, list(locations)).select(*columns, PARTITION_COLUMN)
        schema = gates.read_in_cents(contract.of(table).columns, in_cents)
        return self.lake.read_locations(list(locations.values()), schema)

    def write(
        self,
        df: DataFrame,
        table: LakeTable,
        days: Sequence[date],
        figures: Mapping[str, gates.Figure] | None = None,
    ) -> list[Output]:
        """Write `days` of `table` into this run's folder after checking the columns against
        the contract (`df` carries each row's day in its last column, `extract_date`), then
        read what was written back from its files, once: each day's rows and `figures` (named
        SQL aggregates over the day's rows, for the gates) become the day's `Output`.
        """
        expected = (*contract.of(table).columns, (PARTITION_COLUMN, "string"))
        found = tuple((f.name, f.dataType.simpleString()) for f in df.schema.fields)
        if found != expected:
            raise gates.GateFailed(
                [
                    gates.GateResult(
                        "ColumnTypesMatch", table.name, days[0], "columns", expected, found
                    )
                ]
            )
        with self.phase("write"):
            if self.in_place:
                for day in days:  # until it is published again, nobody knows what the day holds
                    self.lake.remove(restate.pointer_location(self, table, day))
                written = self.lake.write_days(df, table, days)
            else:
                written = self.lake.write_run(df, table, self.run_id, days)
        with self.phase("read back"):
            read = self._read(table, written, gates.cents_columns(figures or {}))
            if read is None:  # no day has rows
                read = self.lake.spark.createDataFrame(
                    [], f"{contract.of(table).ddl}, `{PARTITION_COLUMN}` string"
                )
            figures_by_day = gates.totals_by_day(
                read, {"rows": "count(1)", **(figures or {})}, days
            )
        outputs = []
        for day in days:
            day_figures = figures_by_day[day]
            rows = int(day_figures["rows"])
            if not rows and day in written:  # nothing to publish: no folder either
                self.lake.remove(written[day])
            outputs.append(Output(table, day, written[day] if rows else "", rows, day_figures))
        self.outputs += outputs
        return outputs

    def check(self, results: Sequence[gates.GateResult]) -> None:
        self.gate_results += results
        gates.require(results)

    def publish(self, outputs: Sequence[Output]) -> list[Switch]:
        if self.in_place:  # the crawlers add the days; a day now empty is forgotten here
            emptied: dict[LakeTable, list[DayChange]] = {}
            for output in outputs:
                if not output.location:
                    emptied.setdefault(output.table, []).append(DayChange(output.day, None))
            for table, changes in emptied.items():
                self.catalog.set_days(table, changes)
            for output in outputs:
                if output.location:
                    self.lake.write_text(
                        restate.pointer_location(self, output.table, output.day),
                        json.dumps({"run_id": self.run_id}),
                    )
            switches = [Switch(o, None, applied=not o.location) for o in outputs]
            self.switches += switches
            return switches
        switches = publish(self.lake, self.catalog, self.run_id, outputs)
        self.switches += switches
        return switches

    def record(self, error: BaseException | None = None) -> dict[str, Any]:
        rows: dict[str, dict[str, int]] = {}
        for output in self.outputs:
            rows.setdefault(output.table.name, {})[output.day.isoformat()] = output.rows
        return {
            "run_id": self.run_id,
            "job": self.job,
            "glue_job_run_id": self.glue_job_run_id,
            "started_at": self.started_at,
            "seconds": round(time.monotonic() - self._clock, 1),
            "status": "failed" if error else "published",
            "error": one_line(error) if error else None,
            "days": sorted(
                {d.isoformat() for d in self.days} | {o.day.isoformat() for o in self.outputs}
            ),
            "rows": rows,
            "decisions": [d.as_record() for d in self.decisions],
            "fingerprints": self.fingerprints,
            "built_from": self.built_from,
            "phases": self.phases,
            "gates": [g.as_record() for g in self.gate_results],
            "published": [s.as_record() for s in self.switches],
            "rolled_forward": self.rolled_forward,
            "rolled_forward_published": [
                {**s.as_record(), "run_id": run_id} for run_id, s in self.rolled_forward_switches
            ],
        }

    def save(self, error: BaseException | None = None) -> dict[str, Any]:
        record = self.record(error)
        self.lake.write_text(
            record_location(self.lake, self.run_id, self.job), json.dumps(record, indent=1)
        )
        return record


class RecordStore(Protocol):
    """Where run records are read from: the lake (`Lake`), or a local folder (`LocalFiles`)."""

    @property
    def root(self) -> str: ...

    def list_files(self, folder: str) -> list[str]: ...

    def read_text(self, location: str) -> str: ...


@dataclass(frozen=True)
class LocalFiles:
    """A local lake read with plain Python: `retail-etl history` needs no Spark."""

    root: str

    def list_files(self, folder: str) -> list[str]:
        path = Path(folder)
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []

    def read_text(self, location: str) -> str:
        return Path(location).read_text(encoding="utf-8")


def run_records(store: RecordStore, newest_first: bool = False) -> Iterator[dict[str, Any]]:
    """The run records under `_audit/runs/`, oldest first (run ids sort by start time)."""
    folder = f"{store.root}/{AUDIT_FOLDER}/runs"
    names = [n for n in store.list_files(folder) if n.endswith(".json")]
    for name in reversed(names) if newest_first else names:
        yield json.loads(store.read_text(f"{folder}/{name}"))


def history(store: RecordStore, day: date | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest run records (of `day`, when given), newest first.

    Run ids sort by start time, so the newest are read first and reading stops at `limit`.
    """
    found = []
    for record in run_records(store, newest_first=True):
        if (
            day is None
            or day.isoformat() in record["days"]
            or (not record["days"] and record["status"] == "failed")
        ):
            found.append(record)
        if len(found) >= limit:
            break
    return found


def _days_label(days: Sequence[str]) -> str:
    """`2015-01-05`, `2015-01-05, 2015-01-07`, `2015-01-01..2015-01-31 (31 days)`, or, for days
    with gaps (a night and the days it restated), `2015-01-03..2015-01-06 (3 of 4 days)`."""
    if len(days) <= 2:
        return ", ".join(days)
    span = (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days + 1
    of = "" if span == len(days) else f" of {span}"
    return f"{days[0]}..{days[-1]} ({len(days)}{of} days)"


def _restated(record: dict[str, Any]) -> str:
    """`restated 2015-01-03 (changed); ...`: the look-back days a run wrote again, and why."""
    return restate.describe(
        [
            (d["day"], d.get("reason", ""))
            for d in record.get("decisions", [])
            if d["decision"] == restate.RESTATED
        ]
    )


def format_history(records: Sequence[dict[str, Any]]) -> str:
    header = f"{'run id':<29} {'job':<32} {'status':<9} {'rows':>9} {'gates':>11} {'sec':>6}  days"
    lines = [header, "-" * len(header)]
    for r in records:
        rows = sum(n for per_day in r["rows"].values() for n in per_day.values())
        passed = sum(1 for g in r["gates"] if g["passed"])
        lines.append(
            f"{r['run_id']:<29} {r['job']:<32} {r['status']:<9} {rows:>9,} "
            f"{passed:>5}/{len(r['gates']):<5} {r['seconds']:>6.1f}  {_days_label(r['days'])}"
            + (f"\n    {r['error']}" if r["error"] else "")
            + (f"\n    {restated}" if (restated := _restated(r)) else "")
        )
    return "\n".join(lines)
