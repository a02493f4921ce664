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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

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


@dataclass(frozen=True)
class DayChange:
    """Point `day` at `location` (None: remove the day); `current` is where it points now, as
    the caller just read it (None: nowhere, so the partition is created)."""

    day: date
    location: str | None
    current: str | None = None


class Catalog(Protocol):
    """Where readers find a table's days."""

    def ensure_table(self, table: LakeTable, location: str) -> None: ...

    def day_locations(self, table: LakeTable, days: Sequence[date]) -> dict[date, str]:
        """Where each published day of `days` is (an unpublished day is absent)."""

    def set_days(self, table: LakeTable, changes: Sequence[DayChange]) -> None:
        """Apply `changes`, in as few catalog calls as the catalog allows."""


def day_location(catalog: Catalog, table: LakeTable, day: date) -> str | None:
    """Where the catalog publishes one day of `table` (None: not published)."""
    return catalog.day_locations(table, [day]).get(day)


class HiveCatalog:
    """Locally: Spark's Hive catalog, its tables created from the contract."""

    STATEMENT_MAX = 100  # partitions per ADD or DROP statement

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

    def _partitions(self, table: LakeTable, days: Sequence[date]) -> dict[date, Any]:
        """The catalog's partitions of `days` (Spark's CatalogTablePartition objects), in one
        metastore call through Spark's catalog API (SQL has only DESCRIBE, a call per day)."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        external = self.spark._jsparkSession.sharedState().externalCatalog()
        wanted = {d.isoformat(): d for d in days}
        found = {}
        partitions = external.listPartitions(
            self.database, table.name, jvm.scala.Option.empty()
        ).iterator()
        while partitions.hasNext():
            partition = partitions.next()
            day = wanted.get(partition.spec().get(PARTITION_COLUMN).get())
            if day is not None:
                found[day] = partition
        return found

    def day_locations(self, table: LakeTable, days: Sequence[date]) -> dict[date, str]:
        return {
            day: str(partition.location().toString())
            for day, partition in self._partitions(table, days).items()
        }

    def set_days(self, table: LakeTable, changes: Sequence[DayChange]) -> None:
        def spec(day: date) -> str:
            return f"PARTITION (`{PARTITION_COLUMN}` = '{day.isoformat()}')"

        name = self._name(table)
        dropped = [c.day for c in changes if c.location is None]
        created = [c for c in changes if c.location is not None and c.current is None]
        moved = [c for c in changes if c.location is not None and c.current is not None]
        for start in range(0, len(dropped), self.STATEMENT_MAX):
            days = dropped[start : start + self.STATEMENT_MAX]
            self.spark.sql(f"ALTER TABLE {name} DROP IF EXISTS " + ", ".join(map(spec, days)))
        for start in range(0, len(created), self.STATEMENT_MAX):
            adds = created[start : start + self.STATEMENT_MAX]
            self.spark.sql(
                f"ALTER TABLE {name} ADD "
                + " ".join(f"{spec(c.day)} LOCATION '{c.location}'" for c in adds)
            )
        if len(moved) == 1:  # as SQL says it
            (change,) = moved
            self.spark.sql(
                f"ALTER TABLE {name} {spec(change.day)} SET LOCATION '{change.location}'"
            )
        elif moved:
            self._move(table, moved)

    def _move(self, table: LakeTable, moved: Sequence[DayChange]) -> None:
        """Point several existing partitions at new folders in one metastore call (Hive's
        alter_partitions), where SQL's SET LOCATION takes one partition a statement: a year's
        days 4 s instead of 21 s."""
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        catalog_types = jvm.org.apache.spark.sql.catalyst.catalog
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()
        current = self._partitions(table, [c.day for c in moved])
        partitions = jvm.java.util.ArrayList()
        for change in moved:
            old = current[change.day]
            path = jvm.org.apache.hadoop.fs.Path(change.location)
            storage = old.storage()
            partitions.add(
                catalog_types.CatalogTablePartition(
                    old.spec(),
                    catalog_types.CatalogStorageFormat(
                        jvm.scala.Option.apply(
                            path.getFileSystem(conf).makeQualified(path).toUri()
                        ),
                        storage.inputFormat(),
                        storage.outputFormat(),
                        storage.serde(),
                        storage.compressed(),
                        storage.properties(),
                    ),
                    old.parameters(),
                    old.createTime(),
                    old.lastAccessTime(),
                    old.stats(),
                )
            )
        self.spark._jsparkSession.sessionState().catalog().alterPartitions(
            jvm.org.apache.spark.sql.catalyst.TableIdentifier(
                table.name, jvm.scala.Some(self.database)
            ),
            jvm.scala.collection.JavaConverters.asScalaBuffer(partitions).toSeq(),
        )
        self.spark.catalog.refreshTable(self._name(table))


class GlueCatalog:
    """On Glue: the Data Catalog through its API; the tables are declared by the stack."""

    BATCH_MAX = 100  # BatchCreatePartition and BatchUpdatePartition take at most 100
    GET_MAX = 1000  # BatchGetPartition takes at most 1,000 partition values
    GET_ATTEMPTS = 5

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

    def day_locations(self, table: LakeTable, days: Sequence[date]) -> dict[date, str]:
        wanted = [{"Values": [d.isoformat()]} for d in sorted(set(days))]
        found: dict[date, str] = {}
        for start in range(0, len(wanted), self.GET_MAX):
            keys = wanted[start : start + self.GET_MAX]
            for _ in range(self.GET_ATTEMPTS):  # keys Glue did not get to come back unprocessed
                answer = self.glue.batch_get_partition(
                    DatabaseName=self.database, TableName=table.name, PartitionsToGet=keys
                )
                for partition in answer.get("Partitions", []):
                    day = date.fromisoformat(partition["Values"][0])
                    found[day] = str(partition["StorageDescriptor"]["Location"])
                keys = answer.get("UnprocessedKeys", [])
                if not keys:
                    break
            else:
                raise EtlError(
                    f"the Glue Data Catalog left {len(keys)} partition(s) of "
                    f"{self.database}.{table.name} unread after {self.GET_ATTEMPTS} tries"
                )
        return found

    def set_days(self, table: LakeTable, changes: Sequence[DayChange]) -> None:
        forget_days(
            self.glue, self.database, table.name, [c.day for c in changes if not c.location]
        )
        published = [c for c in changes if c.location]
        if not published:
            return
        descriptor = self.glue.get_table(DatabaseName=self.database, Name=table.name)["Table"][
            "StorageDescriptor"
        ]

        def partition(change: DayChange) -> dict[str, Any]:
            return {
                "Values": [change.day.isoformat()],
                "StorageDescriptor": {**descriptor, "Location": change.location},
            }

        created = [partition(c) for c in published if c.current is None]
        updated = [
            {"PartitionValueList": [c.day.isoformat()], "PartitionInput": partition(c)}
            for c in published
            if c.current is not None
        ]
        errors = []
        for start in range(0, len(created), self.BATCH_MAX):
            errors += self.glue.batch_create_partition(
                DatabaseName=self.database,
                TableName=table.name,
                PartitionInputList=created[start : start + self.BATCH_MAX],
            ).get("Errors", [])
        for start in range(0, len(updated), self.BATCH_MAX):
            errors += self.glue.batch_update_partition(
                DatabaseName=self.database,
                TableName=table.name,
                Entries=updated[start : start + self.BATCH_MAX],
            ).get("Errors", [])
        if errors:
            detail = errors[0].get("ErrorDetail", {})
            values = errors[0].get("PartitionValues") or errors[0].get("PartitionValueList")
            raise EtlError(
                f"could not publish {self.database}.{table.name} {values}: "
                f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
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
