"""The local crawler: registers lake folders in Spark's Hive catalog, as Glue crawlers do in AWS.

It mirrors the crawler settings of DESIGN.md: a new table is created from the schema on disk;
for an existing table only partitions change; a schema on disk that differs from the table's is
logged and the table left as it is (schema change policy LOG/LOG).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from retail_etl.lake import PARTITION_COLUMN, Lake, LakeTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrawlResult:
    table: str
    created: bool
    partitions: int
    schema_differences: tuple[str, ...] = ()


def crawl(spark: SparkSession, lake: Lake, table: LakeTable, database: str) -> CrawlResult:
    """Register `table`'s folder under `database.table.name` and bring its partitions up to date.

    As a crawler with CRAWL_NEW_FOLDERS_ONLY, it reads the schema of the day folders the
    catalog does not know yet (the newest one when it creates the table).
    """
    qualified = f"`{database}`.`{table.name}`"
    location = lake.location(table)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    on_disk = _day_folders(spark, location)
    if not on_disk:
        log.info("crawl %s: %s holds no data yet", table.name, location)
        return CrawlResult(table.name, created=False, partitions=0)

    created = not spark.catalog.tableExists(f"{database}.{table.name}")
    differences: list[str] = []
    if created:
        schema = _data_schema(spark, f"{location}/{on_disk[-1]}")
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in schema.fields)
        spark.sql(
            f"CREATE TABLE {qualified} ({columns}, `{PARTITION_COLUMN}` string) "
            f"USING parquet PARTITIONED BY (`{PARTITION_COLUMN}`) LOCATION '{location}'"
        )
    else:
        in_catalog = StructType(
            [f for f in spark.table(qualified).schema.fields if f.name != PARTITION_COLUMN]
        )
        known = {r[0] for r in spark.sql(f"SHOW PARTITIONS {qualified}").collect()}
        for folder in (f for f in on_disk if f not in known):
            for difference in schema_differences(
                in_catalog, _data_schema(spark, f"{location}/{folder}")
            ):
                log.warning(
                    "crawl %s: %s: schema change ignored (LOG policy): %s",
                    table.name, folder, difference,
                )  # fmt: skip
                differences.append(difference)
    # SYNC both adds new day folders and forgets days whose folder a rerun removed (an empty day).
    spark.sql(f"MSCK REPAIR TABLE {qualified} SYNC PARTITIONS")
    partitions = spark.sql(f"SHOW PARTITIONS {qualified}").count()
    return CrawlResult(table.name, created, partitions, tuple(dict.fromkeys(differences)))


def schema_differences(in_catalog: StructType, on_disk: StructType) -> tuple[str, ...]:
    """Columns added, removed or retyped on disk relative to the catalog (nullability ignored)."""
    catalog_types = {f.name: f.dataType.simpleString() for f in in_catalog.fields}
    disk_types = {f.name: f.dataType.simpleString() for f in on_disk.fields}
    found = [
        f"column {n} ({t}) is new on disk" for n, t in disk_types.items() if n not in catalog_types
    ]
    found += [f"column {n} is gone from disk" for n in catalog_types if n not in disk_types]
    found += [
        f"column {n} is {disk_types[n]} on disk but {t} in the catalog"
        for n, t in catalog_types.items()
        if n in disk_types and disk_types[n] != t
    ]
    return tuple(found)


def _day_folders(spark: SparkSession, location: str) -> list[str]:
    """The `extract_date=...` folders under `location`, oldest first."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)  # type: ignore[union-attr]
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return []
    names = [status.getPath().getName() for status in fs.listStatus(path) if status.isDirectory()]
    return sorted(n for n in names if n.startswith(f"{PARTITION_COLUMN}="))


def _data_schema(spark: SparkSession, folder: str) -> StructType:
    return spark.read.parquet(folder).schema
