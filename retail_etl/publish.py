"""Atomic publish through the catalog: a day becomes visible all at once, or not at all.

A run writes each day into a folder of its own (`Lake.write_run`), its gates check what was
written, and only then does the catalog's partition for the day switch to the new folder: one
metastore call per table, so a reader sees the old day or the new one, never a mixture, and a
run that is killed or fails before the switch leaves the published day exactly as it was.

A job that publishes several tables (the sales silver job: three) first writes its intent, the
list of switches, to `_audit/publishing/<run id>.json`, then switches them back to back, then
removes the intent. A run killed between two switches leaves its intent behind, and the next
run of any job rolls it forward before it starts. Switches only move forward: a partition that
already points at a newer run (run ids sort by start time) is left alone, so two overlapping
runs of a day end with the newer one whole, whichever publishes last.

After a switch, the day's folders of older runs are removed, except the one just replaced,
which is kept for a rollback; folders of newer runs (still writing) are never touched.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from retail_etl.catalogs import Catalog, DayChange
from retail_etl.lake import PARTITION_COLUMN, RUNS_FOLDER, Lake, LakeTable

log = logging.getLogger(__name__)

AUDIT_FOLDER = "_audit"
_RUN_IN_LOCATION = re.compile(rf"/{RUNS_FOLDER}/([^/]+)/{PARTITION_COLUMN}=")


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by start time: `20150106T010203123456Z-1a2b3c`."""
    import uuid

    now = now or datetime.now(UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"


def run_of(location: str | None) -> str | None:
    """The run id of a published location (None for a location not written by a run)."""
    found = _RUN_IN_LOCATION.search(location or "")
    return found.group(1) if found else None


@dataclass(frozen=True)
class Output:
    """One day of one table that a run wrote: where, and how many rows."""

    table: LakeTable
    day: date
    location: str  # "" for a day without rows: publishing it removes the day
    rows: int
    # the day's figures, read back from its files once written (`audit.Run.write`): what the
    # gates compare with the source or the raw days; not part of the record
    found: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def as_record(self) -> dict[str, Any]:
        return {
            "table": self.table.name,
            "day": self.day.isoformat(),
            "location": self.location,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class Switch:
    """What publishing one output did."""

    output: Output
    previous: str | None
    applied: bool  # False: a newer run had published the day already

    def as_record(self) -> dict[str, Any]:
        return {**self.output.as_record(), "previous": self.previous, "applied": self.applied}


def record_location(lake: Lake, run_id: str, job: str) -> str:
    """Where a run's record is (`audit.Run.save` writes it; a look-back reads it)."""
    return f"{lake.root}/{AUDIT_FOLDER}/runs/{run_id}.{job}.json"


def _intent_location(lake: Lake, run_id: str) -> str:
    return f"{lake.root}/{AUDIT_FOLDER}/publishing/{run_id}.json"


def publish(lake: Lake, catalog: Catalog, run_id: str, outputs: Sequence[Output]) -> list[Switch]:
    """Point the catalog at each output, table by table, back to back, after recording the
    intent; then remove the folders the switches superseded."""
    intent = _intent_location(lake, run_id)
    lake.write_text(
        intent, json.dumps({"run_id": run_id, "outputs": [o.as_record() for o in outputs]})
    )
    switches = _switch(catalog, run_id, outputs)
    lake.remove(intent)
    for table, previous in _superseded(switches).items():
        clean_up(lake, table, run_id, previous)
    return switches


def _by_table(outputs: Iterable[Output]) -> dict[LakeTable, list[Output]]:
    grouped: dict[LakeTable, list[Output]] = {}
    for output in outputs:
        grouped.setdefault(output.table, []).append(output)
    return grouped


def _superseded(switches: Iterable[Switch]) -> dict[LakeTable, dict[date, str | None]]:
    """For each table, the applied switches' days and what each replaced."""
    found: dict[LakeTable, dict[date, str | None]] = {}
    for s in switches:
        if s.applied:
            found.setdefault(s.output.table, {})[s.output.day] = s.previous
    return found


def _switch(catalog: Catalog, run_id: str, outputs: Sequence[Output]) -> list[Switch]:
    """Switch every output's day, a table at a time, forward only: a day that a newer run has
    already published is left alone."""
    switches = []
    for table, table_outputs in _by_table(outputs).items():
        current = catalog.day_locations(table, [o.day for o in table_outputs])
        changes = []
        for output in table_outputs:
            now = current.get(output.day)
            newer = run_of(now)
            if newer is not None and newer > run_id:
                log.warning(
                    "%s %s: run %s published it after this run (%s) started; leaving it",
                    table.name, output.day, newer, run_id,
                )  # fmt: skip
                switches.append(Switch(output, now, applied=False))
                continue
            changes.append(DayChange(output.day, output.location or None, now))
            switches.append(Switch(output, now, applied=True))
        catalog.set_days(table, changes)
    return switches


def clean_up(
    lake: Lake, table: LakeTable, run_id: str, previous: Mapping[date, str | None]
) -> list[str]:
    """Remove the folders of `previous`'s days written by runs older than `run_id`, except the
    folder each day just replaced (kept for a rollback); and the folders of older runs that no
    longer hold any day.

    An older run killed before its files were committed left only Spark's `_temporary`: no day
    folder at all. Its folder goes too, as does any older one the removals just emptied. Folders
    of newer runs (still writing) are never touched.
    """
    kept = {day: run_of(location) for day, location in previous.items()}
    removed = []
    for other in lake.list_names(f"{lake.location(table)}/{RUNS_FOLDER}"):
        if other >= run_id:
            continue
        folder = lake.run_location(table, other)
        days = [n for n in lake.list_names(folder) if n.startswith(f"{PARTITION_COLUMN}=")]
        for name in days[:]:
            day = date.fromisoformat(name.partition("=")[2])
            if day in kept and kept[day] != other:
                lake.remove(f"{folder}/{name}")
                removed.append(f"{folder}/{name}")
                days.remove(name)
        if not days:
            lake.remove(folder)
            removed.append(folder)
    return removed


def roll_forward(
    lake: Lake,
    catalog: Catalog,
    tables: Iterable[LakeTable],
    switched: list[tuple[str, Switch]] | None = None,
) -> list[str]:
    """Finish the publishes that a killed run left half done; returns their run ids, and adds
    each (run id, switch) to `switched` (the rolling run's record keeps them: the killed run
    wrote none, and a catalog restore reads what was published from the records)."""
    names = {t.name: t for t in tables}
    finished = []
    folder = f"{lake.root}/{AUDIT_FOLDER}/publishing"
    for name in lake.list_files(folder):
        location = f"{folder}/{name}"
        intent = json.loads(lake.read_text(location))
        outputs = [
            Output(names[o["table"]], date.fromisoformat(o["day"]), o["location"], o["rows"])
            for o in intent["outputs"]
            if o["table"] in names
        ]
        if not outputs:
            continue
        missing = [o.location for o in outputs if o.location and not lake.exists(o.location)]
        if missing:
            log.warning("run %s cannot be rolled forward: %s is gone", intent["run_id"], missing[0])
        else:
            done = _switch(catalog, intent["run_id"], outputs)
            if switched is not None:
                switched += [(intent["run_id"], s) for s in done]
            log.warning("rolled forward the publish of run %s", intent["run_id"])
        lake.remove(location)
        finished.append(intent["run_id"])
    return finished
