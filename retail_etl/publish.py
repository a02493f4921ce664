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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from retail_etl import contract
from retail_etl.errors import EtlError
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


class Catalog(Protocol):
    """Where readers find a table's days."""

    def ensure_table(self, table: LakeTable, location: str) -> None: ...

    def day_location(self, table: LakeTable, day: date) -> str | None: ...

    def set_day(
        self, table: LakeTable, day: date, location: str | None, current: str | None = None
    ) -> None:
        """Point `day` at `location` (None: remove the day); `current` is where it points now,
        as the caller just read it (None: nowhere, the partition is created)."""


class HiveCatalog:
    """Locally: Spark's Hive catalog, its tables created from the contract."""

    def __init__(self, spark: SparkSession, database: str) -> None:
        self.spark = spark
        self.database = database

    def _name(self, table: LakeTable) -> str:
        return f"`{self.database}`.`{table.name}`"

    def ensure_table(self, table: LakeTable, location: str) -> None:
        columns = ", ".join(f"`{n}` {t}" for n, t in contract.of(table).columns)
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self._name(table)} ({columns}, "
            f"`{PARTITION_COLUMN}` string) USING parquet PARTITIONED BY (`{PARTITION_COLUMN}`) "
            f"LOCATION '{location}'"
        )

    def day_location(self, table: LakeTable, day: date) -> str | None:
        spec = f"`{PARTITION_COLUMN}` = '{day.isoformat()}'"
        try:
            described = self.spark.sql(
                f"DESCRIBE FORMATTED {self._name(table)} PARTITION ({spec})"
            ).collect()
        except AnalysisException:  # no such partition: the day is not published
            return None
        in_partition = False  # the table's own Location is listed too, in another section
        for row in described:
            if str(row[0]).startswith("# Detailed Partition Information"):
                in_partition = True
            elif str(row[0]).startswith("# "):
                in_partition = False
            elif in_partition and row[0] == "Location":
                return str(row[1])
        return None

    def set_day(
        self, table: LakeTable, day: date, location: str | None, current: str | None = None
    ) -> None:
        spec = f"`{PARTITION_COLUMN}` = '{day.isoformat()}'"
        if location is None:
            self.spark.sql(f"ALTER TABLE {self._name(table)} DROP IF EXISTS PARTITION ({spec})")
        elif current is None:
            self.spark.sql(
                f"ALTER TABLE {self._name(table)} ADD PARTITION ({spec}) LOCATION '{location}'"
            )
        else:
            self.spark.sql(
                f"ALTER TABLE {self._name(table)} PARTITION ({spec}) SET LOCATION '{location}'"
            )


class GlueCatalog:
    """On Glue: the Data Catalog through its API; the tables are declared by the stack."""

    BATCH_MAX = 100  # BatchCreatePartition and BatchUpdatePartition take at most 100

    def __init__(self, glue: Any, database: str) -> None:
        self.glue = glue
        self.database = database

    def ensure_table(self, table: LakeTable, location: str) -> None:
        try:
            self.glue.get_table(DatabaseName=self.database, Name=table.name)
        except self.glue.exceptions.EntityNotFoundException:
            raise EtlError(
                f"table {self.database}.{table.name} is not in the Glue Data Catalog: deploy "
                "the stack, which declares it"
            ) from None

    def day_location(self, table: LakeTable, day: date) -> str | None:
        try:
            found = self.glue.get_partition(
                DatabaseName=self.database, TableName=table.name, PartitionValues=[day.isoformat()]
            )
        except self.glue.exceptions.EntityNotFoundException:
            return None
        return str(found["Partition"]["StorageDescriptor"]["Location"])

    def set_day(
        self, table: LakeTable, day: date, location: str | None, current: str | None = None
    ) -> None:
        if location is None:
            forget_days(self.glue, self.database, table.name, [day])
            return
        descriptor = dict(
            self.glue.get_table(DatabaseName=self.database, Name=table.name)["Table"][
                "StorageDescriptor"
            ]
        )
        descriptor["Location"] = location
        partition = {"Values": [day.isoformat()], "StorageDescriptor": descriptor}
        if current is None:
            answer = self.glue.batch_create_partition(
                DatabaseName=self.database, TableName=table.name, PartitionInputList=[partition]
            )
            errors = answer.get("Errors", [])
        else:
            answer = self.glue.batch_update_partition(
                DatabaseName=self.database,
                TableName=table.name,
                Entries=[{"PartitionValueList": [day.isoformat()], "PartitionInput": partition}],
            )
            errors = answer.get("Errors", [])
        if errors:
            detail = errors[0].get("ErrorDetail", {})
            raise EtlError(
                f"could not publish {self.database}.{table.name} {day}: "
                f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
            )


# BatchDeletePartition takes at most 25 partitions a call (Glue API reference).
BATCH_DELETE_MAX = 25


def forget_days(glue: Any, database: str, table: str, days: Iterable[date]) -> int:
    """Delete `table`'s partitions of `days`; returns how many calls were made.

    A table the catalog does not have yet has no partitions to forget, and a day without a
    partition is already forgotten: neither is an error.
    """
    values = [{"Values": [day.isoformat()]} for day in sorted(set(days))]
    calls = 0
    failed = []
    for start in range(0, len(values), BATCH_DELETE_MAX):
        try:
            answer = glue.batch_delete_partition(
                DatabaseName=database,
                TableName=table,
                PartitionsToDelete=values[start : start + BATCH_DELETE_MAX],
            )
        except glue.exceptions.EntityNotFoundException:
            return calls
        calls += 1
        failed += [
            error
            for error in answer.get("Errors", [])
            if error["ErrorDetail"]["ErrorCode"] != "EntityNotFoundException"
        ]
    if failed:
        first = failed[0]
        raise EtlError(
            f"could not remove the catalog partition {database}.{table} "
            f"{first['PartitionValues']}: {first['ErrorDetail']['ErrorMessage']}"
        )
    return calls


@dataclass(frozen=True)
class Output:
    """One day of one table that a run wrote: where, and how many rows."""

    table: LakeTable
    day: date
    location: str  # "" for a day without rows: publishing it removes the day
    rows: int

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


def _intent_location(lake: Lake, run_id: str) -> str:
    return f"{lake.root}/{AUDIT_FOLDER}/publishing/{run_id}.json"


def publish(lake: Lake, catalog: Catalog, run_id: str, outputs: Sequence[Output]) -> list[Switch]:
    """Point the catalog at each output, back to back, after recording the intent."""
    intent = _intent_location(lake, run_id)
    lake.write_text(
        intent, json.dumps({"run_id": run_id, "outputs": [o.as_record() for o in outputs]})
    )
    switches = [_switch(catalog, run_id, output) for output in outputs]
    lake.remove(intent)
    for switch in switches:
        if switch.applied:
            clean_up(lake, switch.output.table, switch.output.day, run_id, switch.previous)
    return switches


def _switch(catalog: Catalog, run_id: str, output: Output) -> Switch:
    current = catalog.day_location(output.table, output.day)
    current_run = run_of(current)
    if current_run is not None and current_run > run_id:
        log.warning(
            "%s %s: run %s published it after this run (%s) started; leaving it",
            output.table.name, output.day, current_run, run_id,
        )  # fmt: skip
        return Switch(output, current, applied=False)
    catalog.set_day(output.table, output.day, output.location or None, current)
    return Switch(output, current, applied=True)


def clean_up(
    lake: Lake, table: LakeTable, day: date, run_id: str, previous: str | None
) -> list[str]:
    """Remove `day`'s folders of runs older than `run_id`, except the previous one."""
    keep = {run_id, run_of(previous)}
    removed = []
    for other, location in lake.runs_holding(table, day).items():
        if other < run_id and other not in keep:
            lake.remove(location)
            removed.append(location)
    # An older run killed before its files were committed left only Spark's `_temporary`: no
    # day folder at all. Its folder goes too, as does any older one the removals just emptied.
    for other in lake.list_names(f"{lake.location(table)}/{RUNS_FOLDER}"):
        folder = lake.run_location(table, other)
        days = [n for n in lake.list_names(folder) if n.startswith(f"{PARTITION_COLUMN}=")]
        if other < run_id and other not in keep and not days:
            lake.remove(folder)
            removed.append(folder)
    return removed


def roll_forward(lake: Lake, catalog: Catalog, tables: Iterable[LakeTable]) -> list[str]:
    """Finish the publishes that a killed run left half done; returns their run ids."""
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
            for output in outputs:
                _switch(catalog, intent["run_id"], output)
            log.warning("rolled forward the publish of run %s", intent["run_id"])
        lake.remove(location)
        finished.append(intent["run_id"])
    return finished
