"""The one IO boundary of the lake: table locations, writing and reading one day's partition.

The local folder and S3 differ only in the root, so the same calls run on a laptop and on Glue.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from retail_etl.errors import EtlError

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject

PARTITION_COLUMN = "extract_date"
# Every run writes into a folder of its own under the table, `_runs/<run id>/extract_date=D/`;
# the catalog's partition for D points at the published one. Readers that list the table's
# folder instead see nothing there: Spark and Hive skip folders whose name starts with `_`.
RUNS_FOLDER = "_runs"
DAY_FOLDER = re.compile(rf"{PARTITION_COLUMN}=\d{{4}}-\d{{2}}-\d{{2}}")


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

    def write_run(
        self, df: DataFrame, table: LakeTable, run_id: str, days: Sequence[date]
    ) -> dict[date, str]:
        """Write `df`, whose `extract_date` column says each row's day, as `days` of `table`
        into this run's own folder, one subfolder a day; nothing else changes. Returns the
        folder of each day written: every day that has rows, and with one day its folder even
        when it has none (the caller reads the days back and removes an empty one).

        Nothing a reader can see moves: the days are published later by pointing the catalog at
        the folders. A day outside `days` is an error: the run would publish nothing of it, and
        no reader should ever find it there.
        """
        folder = self.run_location(table, run_id)
        if len(days) == 1:
            return self._write_day(df, table, run_id, days[0])
        df.write.mode("errorifexists").partitionBy(PARTITION_COLUMN).parquet(folder)
        prefix = f"{PARTITION_COLUMN}="
        wanted = {d.isoformat(): d for d in days}
        # a null day is written as Hive's `__HIVE_DEFAULT_PARTITION__`: a stray day too
        found = [n.removeprefix(prefix) for n in self.list_names(folder) if n.startswith(prefix)]
        _refuse_stray(folder, [n for n in found if n not in wanted])
        return {wanted[n]: self.run_day_location(table, run_id, wanted[n]) for n in found}

    def _write_day(
        self, df: DataFrame, table: LakeTable, run_id: str, day: date
    ) -> dict[date, str]:
        """`write_run` of one day: the rows, without their day, straight into the day's folder.

        Spark's partitioned write sorts every row by the partition column, even when the
        column is a constant, as every one-day build's and extraction's day is (the physical
        plans showed a Sort of the whole day before each write; measured in one warm session,
        ten million raw lines: 8.8-10.2 s written partitioned, 7.5-8.1 s straight into the
        folder). Rows of another day are looked for first: with a constant day Spark folds
        that query to an empty relation, so it reads nothing; otherwise it reads the rows.
        """
        wanted = day.isoformat()
        others = df.where(~F.col(PARTITION_COLUMN).eqNullSafe(wanted))
        if not others.isEmpty():
            stray = others.select(F.coalesce(F.col(PARTITION_COLUMN), F.lit("null"))).distinct()
            _refuse_stray(
                self.run_location(table, run_id), sorted(r[0] for r in stray.limit(10).collect())
            )
        location = self.run_day_location(table, run_id, day)
        df.drop(PARTITION_COLUMN).write.mode("errorifexists").parquet(location)
        return {day: location}

    def read_locations(self, locations: Sequence[str], schema: str) -> DataFrame:
        """The files of published days, read with the contract's schema, each row with its
        `extract_date` from its folder's name (`.../extract_date=D/`).

        Spark reads the day from the folder as a partition value, once per file: the days
        are grouped by the folder holding them (a run's folder, or the table's own), one
        read each, those reads unioned (a regular expression over every row's file path cost
        1.2 s a scan at ten million rows, measured). A location that is not a day folder is
        refused, naming it.
        """
        by_folder: dict[str, list[str]] = {}
        for location in locations:
            folder, _, name = location.rstrip("/").rpartition("/")
            if not DAY_FOLDER.fullmatch(name):
                raise EtlError(
                    f"{location} is not a day folder (.../{PARTITION_COLUMN}=YYYY-MM-DD/)"
                )
            by_folder.setdefault(folder, []).append(location)
        reads = [
            self.spark.read.schema(f"{schema}, `{PARTITION_COLUMN}` string")
            .option("basePath", folder)
            .parquet(*days)
            for folder, days in by_folder.items()
        ]
        return functools.reduce(DataFrame.unionByName, reads)

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

    def write_days(self, df: DataFrame, table: LakeTable, days: Sequence[date]) -> dict[date, str]:
        """In place (the crawler option): replace `days`' partitions of `table` with `df`, whose
        `extract_date` column says each row's day, leaving every other day as it was; returns
        the folder of each day that has rows.

        Dynamic partition overwrite replaces only the partitions the data holds, so a day with
        no rows would keep an earlier run's files: its partition is removed instead.
        """
        observed = Observation(f"days_{table.name}")
        (
            df.observe(observed, F.concat_ws(",", F.collect_set(PARTITION_COLUMN)).alias("days"))
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy(PARTITION_COLUMN)
            .parquet(self.location(table))
        )
        seen = set(str(observed.get["days"]).split(","))  # at most 366 days: a short string
        for day in days:
            if day.isoformat() not in seen:
                self.remove_day(table, day)
        return {day: self.partition_location(table, day) for day in days if day.isoformat() in seen}

    def remove_day(self, table: LakeTable, day: date) -> None:
        path = self._hadoop_path(self.partition_location(table, day))
        path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)

    def has_day(self, table: LakeTable, day: date) -> bool:
        path = self._hadoop_path(self.partition_location(table, day))
        return bool(
            path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).exists(path)
        )

    def read_days(self, table: LakeTable, days: Sequence[date]) -> DataFrame:
        """In place (the crawler option): `days` of `table`, read from the table's folder."""
        return (
            self.spark.read.option("basePath", self.location(table))
            .parquet(*[self.partition_location(table, d) for d in days])
            .withColumn(PARTITION_COLUMN, F.date_format(PARTITION_COLUMN, "yyyy-MM-dd"))
        )

    def _hadoop_path(self, location: str) -> JavaObject:
        return self.spark.sparkContext._jvm.org.apache.hadoop.fs.Path(location)  # type: ignore[union-attr]


def _refuse_stray(folder: str, stray: Sequence[str]) -> None:
    """A run's folder that holds days it was not asked for is an error, naming them."""
    if stray:
        raise EtlError(f"{folder} holds days the run was not asked for: {', '.join(stray)}")
