"""The one IO boundary of the lake: table locations, writing and reading one day's partition.

The local folder and S3 differ only in the root, so the same calls run on a laptop and on Glue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject

PARTITION_COLUMN = "extract_date"
# Every run writes into a folder of its own under the table, `_runs/<run id>/extract_date=D/`;
# the catalog's partition for D points at the published one. Readers that list the table's
# folder instead see nothing there: Spark and Hive skip folders whose name starts with `_`.
RUNS_FOLDER = "_runs"


@dataclass(frozen=True)
class LakeTable:
    """A lake table: its catalog name and its folder under the lake root."""

    name: str
    path: str


FACTDATA = {
    "balju": LakeTable("factdata_balju", "factdata/balju"),
    "sales": LakeTable("factdata_sales", "factdata/sales"),
}
SILVER_DAILYBALJU = LakeTable("silver_dailybalju", "silver/dailybalju")
SILVER_DAILYSALES_ITEM = LakeTable("silver_dailysales_item", "silver/dailysales_item")
SILVER_DAILYSALES_STORE = LakeTable("silver_dailysales_store", "silver/dailysales_store")
SILVER_DAILYSALES_HOURLY = LakeTable("silver_dailysales_hourly", "silver/dailysales_hourly")
ALL_TABLES = (
    *FACTDATA.values(),
    SILVER_DAILYBALJU,
    SILVER_DAILYSALES_ITEM,
    SILVER_DAILYSALES_STORE,
    SILVER_DAILYSALES_HOURLY,
)


@dataclass(frozen=True)
class WriteResult:
    table: LakeTable
    rows: int
    location: str  # where the day's files are ("" when a run wrote none)


class Lake:
    """Parquet tables partitioned by `extract_date=YYYY-MM-DD` under one root (a folder or s3://)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark = spark
        self.root = root.rstrip("/")

    def check_writable(self) -> None:
        """Write and remove a small file under the root, so a lake that cannot be written fails
        before anything else is done (the source is not even asked)."""
        from retail_etl.errors import EtlError, one_line

        probe = self._hadoop_path(f"{self.root}/_audit/.write-probe-{os.getpid()}")
        try:
            fs = probe.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
            fs.create(probe, True).close()
            fs.delete(probe, False)
        except Exception as err:
            raise EtlError(f"the lake root {self.root} is not writable: {one_line(err)}") from None

    def location(self, table: LakeTable) -> str:
        return f"{self.root}/{table.path}"

    def partition_location(self, table: LakeTable, day: date) -> str:
        return f"{self.location(table)}/{PARTITION_COLUMN}={day.isoformat()}"

    def run_location(self, table: LakeTable, run_id: str) -> str:
        return f"{self.location(table)}/{RUNS_FOLDER}/{run_id}"

    def run_day_location(self, table: LakeTable, run_id: str, day: date) -> str:
        return f"{self.run_location(table, run_id)}/{PARTITION_COLUMN}={day.isoformat()}"

    def write_run(self, df: DataFrame, table: LakeTable, run_id: str, day: date) -> WriteResult:
        """Write `df` as `day` of `table` into this run's own folder; nothing else changes.

        Nothing a reader can see moves: the day is published later by pointing the catalog at
        the folder. A day without rows writes no folder (location "").
        """
        observed = Observation(f"rows_{table.name}")
        (
            df.withColumn(PARTITION_COLUMN, F.lit(day.isoformat()))
            .observe(observed, F.count(F.lit(1)).alias("rows"))
            .write.mode("errorifexists")
            .partitionBy(PARTITION_COLUMN)
            .parquet(self.run_location(table, run_id))
        )
        rows = int(observed.get["rows"])
        location = self.run_day_location(table, run_id, day) if rows else ""
        return WriteResult(table, rows, location)

    def read_location(self, location: str, schema: str) -> DataFrame:
        """The files of one published day, read with the contract's schema."""
        return self.spark.read.schema(schema).parquet(location)

    def runs_holding(self, table: LakeTable, day: date) -> dict[str, str]:
        """Run id -> folder, for every run folder of `table` that holds `day`."""
        found = {}
        for run_id in self.list_names(f"{self.location(table)}/{RUNS_FOLDER}"):
            location = self.run_day_location(table, run_id, day)
            if self.exists(location):
                found[run_id] = location
        return found

    def exists(self, location: str) -> bool:
        path = self._hadoop_path(location)
        return bool(path.getFileSystem(self._hadoop_conf()).exists(path))

    def remove(self, location: str) -> None:
        path = self._hadoop_path(location)
        path.getFileSystem(self._hadoop_conf()).delete(path, True)

    def list_names(self, folder: str) -> list[str]:
        """The names of the folders in `folder`, sorted (none when it does not exist)."""
        path = self._hadoop_path(folder)
        fs = path.getFileSystem(self._hadoop_conf())
        if not fs.exists(path):
            return []
        return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isDirectory())

    def list_files(self, folder: str) -> list[str]:
        path = self._hadoop_path(folder)
        fs = path.getFileSystem(self._hadoop_conf())
        if not fs.exists(path):
            return []
        return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isFile())

    def write_text(self, location: str, text: str) -> None:
        """Write a small file whole (a run record); on S3 a PUT, atomic for readers."""
        path = self._hadoop_path(location)
        out = path.getFileSystem(self._hadoop_conf()).create(path, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def read_text(self, location: str) -> str:
        path = self._hadoop_path(location)
        stream = path.getFileSystem(self._hadoop_conf()).open(path)
        try:
            jvm = self.spark.sparkContext._jvm
            return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))  # type: ignore[union-attr]
        finally:
            stream.close()

    def _hadoop_conf(self) -> JavaObject:
        return self.spark.sparkContext._jsc.hadoopConfiguration()

    def write_day(self, df: DataFrame, table: LakeTable, day: date) -> WriteResult:
        """Replace `day`'s partition of `table` with `df`, leaving every other day as it was.

        Dynamic partition overwrite replaces only the partitions the data holds, so a day with
        no rows would leave an earlier run's files in place: that partition is removed instead.
        The row count is observed during the write, not computed by a second pass.
        """
        observed = Observation(f"rows_{table.name}")
        (
            df.withColumn(PARTITION_COLUMN, F.lit(day.isoformat()))
            .observe(observed, F.count(F.lit(1)).alias("rows"))
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy(PARTITION_COLUMN)
            .parquet(self.location(table))
        )
        rows = int(observed.get["rows"])
        if rows == 0:
            self.remove_day(table, day)
        return WriteResult(table, rows, self.partition_location(table, day))

    def remove_day(self, table: LakeTable, day: date) -> None:
        path = self._hadoop_path(self.partition_location(table, day))
        path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)

    def has_day(self, table: LakeTable, day: date) -> bool:
        path = self._hadoop_path(self.partition_location(table, day))
        return bool(
            path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).exists(path)
        )

    def read_day(self, table: LakeTable, day: date) -> DataFrame | None:
        """One day's rows of `table` (without the partition column), or None when it has none."""
        if not self.has_day(table, day):
            return None
        return self.spark.read.parquet(self.partition_location(table, day))

    def _hadoop_path(self, location: str) -> JavaObject:
        return self.spark.sparkContext._jvm.org.apache.hadoop.fs.Path(location)  # type: ignore[union-attr]
