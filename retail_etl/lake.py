"""The one IO boundary of the lake: table locations, writing and reading one day's partition.

The local folder and S3 differ only in the root, so the same calls run on a laptop and on Glue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from py4j.java_gateway import JavaObject

PARTITION_COLUMN = "extract_date"


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
    location: str


class Lake:
    """Parquet tables partitioned by `extract_date=YYYY-MM-DD` under one root (a folder or s3://)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark = spark
        self.root = root.rstrip("/")

    def location(self, table: LakeTable) -> str:
        return f"{self.root}/{table.path}"

    def partition_location(self, table: LakeTable, day: date) -> str:
        return f"{self.location(table)}/{PARTITION_COLUMN}={day.isoformat()}"

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
