"""The local crawler: create from disk, add partitions, log schema changes and leave the table."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal as D

from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from retail_etl.lake import LakeTable
from retail_etl.local.crawler import crawl, schema_differences

DATABASE = "crawl_test"


def write_day(lake, df, table: LakeTable, day: date) -> None:  # type: ignore[no-untyped-def]
    """What a job does with the crawler option: write one day in place."""
    lake.write_days(df.withColumn("extract_date", F.lit(day.isoformat())), table, [day])


TABLE = LakeTable("silver_example", "silver/example")


def test_crawl_creates_adds_partitions_and_logs_schema_changes(spark, lake, caplog) -> None:  # type: ignore[no-untyped-def]
    spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    first = spark.createDataFrame([(1, D("1.50"))], "store_id int, amount decimal(20,2)")
    write_day(lake, first, TABLE, date(2015, 1, 1))

    created = crawl(spark, lake, TABLE, DATABASE)

    assert (created.created, created.partitions, created.schema_differences) == (True, 1, ())
    schema = spark.table(f"{DATABASE}.{TABLE.name}").schema
    assert [(f.name, f.dataType.simpleString()) for f in schema.fields] == [
        ("store_id", "int"), ("amount", "decimal(20,2)"), ("extract_date", "string"),
    ]  # fmt: skip

    # the next day on disk has a retyped and an extra column
    changed = spark.createDataFrame([(2, 2.5, "x")], "store_id int, amount double, note string")
    write_day(lake, changed, TABLE, date(2015, 1, 2))
    with caplog.at_level(logging.WARNING, logger="retail_etl.local.crawler"):
        updated = crawl(spark, lake, TABLE, DATABASE)

    assert (updated.created, updated.partitions) == (False, 2)
    assert set(updated.schema_differences) == {
        "column note (string) is new on disk",
        "column amount is double on disk but decimal(20,2) in the catalog",
    }
    assert "schema change ignored (LOG policy)" in caplog.text
    assert spark.table(f"{DATABASE}.{TABLE.name}").schema == schema  # left as it was
    days = spark.sql(f"SELECT DISTINCT extract_date FROM {DATABASE}.{TABLE.name}").collect()
    assert sorted(r[0] for r in days) == ["2015-01-01", "2015-01-02"]


def test_crawl_of_an_empty_folder_registers_nothing(spark, lake) -> None:  # type: ignore[no-untyped-def]
    found = crawl(spark, lake, LakeTable("nothing_yet", "silver/nothing"), DATABASE)
    assert (found.created, found.partitions) == (False, 0)
    assert not spark.catalog.tableExists(f"{DATABASE}.nothing_yet")


def test_a_day_emptied_by_a_rerun_is_forgotten_by_the_next_crawl(spark, lake) -> None:  # type: ignore[no-untyped-def]
    table = LakeTable("silver_emptied", "silver/emptied")
    spark.sql(f"DROP TABLE IF EXISTS {DATABASE}.{table.name}")
    day = spark.createDataFrame([(1, D("1.50"))], "store_id int, amount decimal(12,2)")
    write_day(lake, day, table, date(2015, 1, 1))
    write_day(lake, day, table, date(2015, 1, 2))
    assert crawl(spark, lake, table, DATABASE).partitions == 2

    # the source lost every row of the 2nd: the rerun writes nothing and removes the folder
    write_day(lake, spark.createDataFrame([], day.schema), table, date(2015, 1, 2))
    again = crawl(spark, lake, table, DATABASE)

    assert again.partitions == 1
    days = spark.sql(f"SHOW PARTITIONS {DATABASE}.{table.name}").collect()
    assert [r[0] for r in days] == ["extract_date=2015-01-01"]
    assert spark.table(f"{DATABASE}.{table.name}").count() == 1


def test_a_column_gone_from_disk_is_a_schema_difference() -> None:
    in_catalog = StructType(
        [StructField("store_id", IntegerType()), StructField("note", StringType())]
    )
    on_disk = StructType([StructField("store_id", IntegerType())])

    assert schema_differences(in_catalog, on_disk) == ("column note is gone from disk",)
    assert schema_differences(on_disk, in_catalog) == ("column note (string) is new on disk",)
    assert schema_differences(on_disk, on_disk) == ()
