"""A lost catalog rebuilt from the lake alone: the run records under `_audit/runs/` say, for
every table and day, which run published it, where, and what it replaced.

For each table and day the newest publish wins (run ids sort by start time, and switches only
move forward, so the newest applied switch is what the catalog last pointed at), unless its
folder has been removed since; a day whose newest publish was empty stays absent. The result
goes through the catalog as a publish does, forward only (a day the catalog already publishes
from a newer run is left alone) and batched (`Catalog.set_days`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from retail_etl.audit import run_records
from retail_etl.catalogs import Catalog, DayChange
from retail_etl.lake import Lake, LakeTable
from retail_etl.publish import run_of


@dataclass(frozen=True)
class Published:
    """One applied switch of a run record: `table`'s `day` pointed at `location` by `run_id`
    ("" for a day published empty)."""

    table: str
    day: date
    location: str
    run_id: str


@dataclass
class Restored:
    """What a restore did, per table: days pointed at a folder, days removed, days left."""

    set: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # folders a record names that are gone

    def summary(self) -> str:
        tables = sorted(set(self.set) | set(self.removed) | set(self.unchanged))
        lines = [
            f"{t}: {self.set.get(t, 0)} day(s) restored, {self.removed.get(t, 0)} removed, "
            f"{self.unchanged.get(t, 0)} already right"
            for t in tables
        ]
        if self.missing:
            lines.append(f"{len(self.missing)} published folder(s) no longer exist, skipped")
        return "\n".join(lines) or "no run record publishes any day"


def published_in_records(lake: Lake) -> list[Published]:
    """Every applied switch in the lake's run records, rolled-forward ones included."""
    found = []
    for record in run_records(lake):
        switches = [(record["run_id"], s) for s in record.get("published", [])]
        switches += [(s["run_id"], s) for s in record.get("rolled_forward_published", [])]
        for run_id, switch in switches:
            if switch.get("applied"):
                location = switch["location"] or ""
                found.append(
                    Published(
                        switch["table"],
                        date.fromisoformat(switch["day"]),
                        location,
                        run_of(location) or run_id,
                    )
                )
    return found


def restore(lake: Lake, catalog: Catalog, tables: Sequence[LakeTable]) -> Restored:
    """Point every table's days where the newest surviving publish put them."""
    done = Restored()
    by_table: dict[str, list[Published]] = {}
    for p in published_in_records(lake):
        by_table.setdefault(p.table, []).append(p)
    for table in tables:
        catalog.ensure_table(table, lake.location(table))
        newest = _newest_surviving(lake, by_table.get(table.name, []), done.missing)
        if not newest:
            continue
        current = catalog.day_locations(table, list(newest))
        changes = []
        for day, p in sorted(newest.items()):
            now = current.get(day)
            if _same_place(now or "", p.location) or (run_of(now) or "") > p.run_id:
                done.unchanged[table.name] = done.unchanged.get(table.name, 0) + 1
                continue
            if not p.location and now is None:
                done.unchanged[table.name] = done.unchanged.get(table.name, 0) + 1
                continue
            changes.append(DayChange(day, p.location or None, now))
            counter = done.set if p.location else done.removed
            counter[table.name] = counter.get(table.name, 0) + 1
        catalog.set_days(table, changes)
    return done


def _newest_surviving(
    lake: Lake, published: Iterable[Published], missing: list[str]
) -> dict[date, Published]:
    """Per day, the newest publish whose folder still exists (or that published it empty)."""
    by_day: dict[date, list[Published]] = {}
    for p in published:
        by_day.setdefault(p.day, []).append(p)
    chosen = {}
    for day, candidates in by_day.items():
        for p in sorted(candidates, key=lambda c: c.run_id, reverse=True):
            if not p.location or lake.exists(p.location):
                chosen[day] = p
                break
            missing.append(p.location)
    return chosen


def _same_place(a: str, b: str) -> bool:
    """Whether two locations are one folder: Hive answers `file:/x/` where a run wrote `/x`."""

    def plain(location: str) -> str:
        for scheme in ("file://", "file:"):
            if location.startswith(scheme):
                location = location[len(scheme) :]
                break
        return location.rstrip("/")

    return plain(a) == plain(b)
