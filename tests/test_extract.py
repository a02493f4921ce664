"""d2s against a real PostgreSQL: the extracted day equals what SQL says the day holds."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import free_port, lake_files, runs_holding, sql_all, sql_one
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, LongType, TimestampType

from retail_etl import lake as tables
from retail_etl import source
from retail_etl.catalogs import day_location
from retail_etl.errors import SourceUnavailableError
from retail_etl.params import DayRange
from retail_etl.settings import SourceDb
from retail_etl.steps import extract_days

DAY = date(2015, 1, 5)


def test_sales_day_matches_sql_including_edges(spark, stack, seeded, lake, new_run) -> None:  # type: ignore[no-untyped-def]
    result = extract_days(spark, stack.source, new_run(), "sales", DayRange.one(DAY))

    # the contract's definition, written differently from the job's half-open range
    expected = sql_one(
        seeded,
        "SELECT count(*), sum(qty), sum(unit_price), sum(discount_amt), sum(sale_id) "
        "FROM retail.sales WHERE sold_at::date = DATE '2015-01-05'",
    )
    raw = spark.read.parquet(result.location)
    got = raw.agg(
        F.count(F.lit(1)),
        F.sum("qty"),
        F.sum("unit_price"),
        F.sum("discount_amt"),
        F.sum("sale_id"),
    ).first()
    assert tuple(got) == expected
    assert result.rows_in == result.rows_out == expected[0]

    ids = {r.sale_id: r.sold_at for r in raw.where(F.col("sale_id") > 9e15).collect()}
    assert ids == {
        9000000000000001: datetime(2015, 1, 5, 0, 0, 0),
        9000000000000002: datetime(2015, 1, 5, 23, 59, 59, 999000),  # wall clock kept
    }


def test_raw_columns_are_typed_as_in_the_source(spark, stack, seeded, lake, new_run) -> None:  # type: ignore[no-untyped-def]
    result = extract_days(spark, stack.source, new_run(), "sales", DayRange.one(DAY))
    schema = spark.read.parquet(result.location).schema
    assert schema.names == [
        "sale_id", "receipt_no", "sold_at", "store_id", "item_id", "qty", "unit_price",
        "discount_amt", "payment_method", "_extracted_at",
    ]  # fmt: skip
    assert schema["sale_id"].dataType == LongType()
    assert schema["unit_price"].dataType == DecimalType(12, 2)
    assert schema["discount_amt"].dataType == DecimalType(12, 2)
    assert schema["sold_at"].dataType == TimestampType()
    # in the files, timestamps are Parquet's INT64 TIMESTAMP(MICROS), not the deprecated INT96
    # (runtime.COMMON_CONF), which pyarrow would read as nanoseconds without a zone
    files = sorted(Path(result.location.removeprefix("file:")).glob("*.parquet"))
    assert files
    for file in files:
        written = pq.read_schema(file)
        for column in ("sold_at", "_extracted_at"):
            assert written.field(column).type == pa.timestamp("us", tz="UTC"), (file, column)


def test_the_read_back_sums_the_cents_the_files_hold(  # type: ignore[no-untyped-def]
    spark, stack, seeded, lake, new_run, monkeypatch
) -> None:
    # the gates' read-back takes the control sums' money columns as whole cents (bigint,
    # gates.read_in_cents); its figures are still PostgreSQL's own sums
    from retail_etl.lake import Lake

    schemas = []
    read_locations = Lake.read_locations

    def spy(self, locations, schema):  # type: ignore[no-untyped-def]
        schemas.append(schema)
        return read_locations(self, locations, schema)

    monkeypatch.setattr(Lake, "read_locations", spy)
    run = new_run()
    extract_days(spark, stack.source, run, "sales", DayRange.one(DAY))

    assert "`unit_price` bigint" in schemas[0] and "`discount_amt` bigint" in schemas[0]
    gross, discount = sql_one(
        seeded,
        "SELECT sum(qty * unit_price), sum(discount_amt) FROM retail.sales "
        "WHERE sold_at::date = DATE '2015-01-05'",
    )
    found = {r.check: r.actual for r in run.gate_results if r.rule == "AggregateMatch"}
    assert found["sum(qty * unit_price)"] == gross and found["sum(discount_amt)"] == discount


def test_balju_day_matches_sql(spark, stack, seeded, lake, new_run) -> None:  # type: ignore[no-untyped-def]
    result = extract_days(spark, stack.source, new_run(), "balju", DayRange.one(DAY))
    expected = sql_one(
        seeded,
        "SELECT count(*), sum(order_qty), sum(unit_cost), "
        "count(*) FILTER (WHERE status = 'CANCELLED'), count(*) FILTER (WHERE status IS NULL) "
        "FROM retail.balju WHERE balju_date = DATE '2015-01-05'",
    )
    raw = spark.read.parquet(result.location)
    got = raw.agg(
        F.count(F.lit(1)),
        F.sum("order_qty"),
        F.sum("unit_cost"),
        F.count(F.when(F.col("status") == "CANCELLED", 1)),
        F.count(F.when(F.col("status").isNull(), 1)),
    ).first()
    assert tuple(got) == expected
    assert expected[3] > 0 and expected[4] == 1  # cancelled orders and the null-status edge row
    assert raw.schema["unit_cost"].dataType == DecimalType(12, 2)


def test_read_is_split_and_filtered_inside_postgresql(spark, stack, seeded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(source, "ROWS_PER_READ_PARTITION", 200)
    monkeypatch.setattr(source, "task_slots", lambda spark: None)  # as on Glue: no cap by cores
    fact = source.FACT_TABLES["sales"]
    with source.SourceSnapshot(spark, stack.source) as snapshot:
        extent = source.range_extent(snapshot, fact, DAY, DAY)
        df = source.read_range(spark, snapshot, fact, DAY, DAY, extent, max_connections=8)
        assert df.rdd.getNumPartitions() == 5  # 802 rows / 200 per partition, rounded up
        plan = df._jdf.queryExecution().executedPlan().toString()
        assert "sold_at >= DATE '2015-01-05' AND sold_at < DATE '2015-01-06'" in plan
        rows = df.count()
    expected = "SELECT count(*) FROM retail.sales WHERE sold_at::date = '2015-01-05'"
    assert rows == extent.rows == sql_one(seeded, expected)[0]


def test_each_row_carries_its_own_day_whether_one_day_or_several_are_read(  # type: ignore[no-untyped-def]
    spark, stack, seeded
) -> None:
    # A one-day read takes the day as a constant (no sort by day in the write); a range asks
    # PostgreSQL for each row's day. Either way every row's extract_date is the day SQL gives it.
    fact = source.FACT_TABLES["sales"]
    first, last = date(2015, 1, 4), date(2015, 1, 6)
    expected = sql_all(
        seeded,
        "SELECT to_char(sold_at::date, 'YYYY-MM-DD'), count(*) FROM retail.sales "
        "WHERE sold_at::date BETWEEN '2015-01-04' AND '2015-01-06' GROUP BY 1 ORDER BY 1",
    )
    assert len(expected) == 3

    def days_read(start: date, end: date, only: list[date] | None = None) -> list[tuple]:
        with source.SourceSnapshot(spark, stack.source) as snapshot:
            extent = source.range_extent(snapshot, fact, start, end, only=only)
            df = source.read_range(spark, snapshot, fact, start, end, extent, only=only)
            found = df.groupBy("extract_date").count().orderBy("extract_date").collect()
        return [(r[0], r[1]) for r in found]

    assert days_read(first, last) == expected
    assert days_read(first, last, only=[first, last]) == [expected[0], expected[2]]
    assert days_read(DAY, DAY) == [expected[1]]
    assert days_read(first, last, only=[DAY]) == [expected[1]]


def test_a_read_opens_no_more_connections_than_the_setting_allows(
    spark, stack, seeded, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # A 4,000,000-row range would ask for 16 partitions of 250,000 rows; each partition is a
    # connection to the operational database, so the read is capped by --SOURCE_MAX_CONNECTIONS
    # (default 4, README); and, in a local session, by the tasks it runs at once.
    fact = source.FACT_TABLES["sales"]
    huge = source.RangeExtent({DAY: 4_000_000}, {}, min_key=1, max_key=4_000_000)
    cores = spark.sparkContext.defaultParallelism
    assert source.task_slots(spark) == cores  # local[*]: this machine's cores
    with source.SourceSnapshot(spark, stack.source) as snapshot:
        df = source.read_range(spark, snapshot, fact, DAY, DAY, huge, 32)
        assert df.rdd.getNumPartitions() == min(16, cores)
    assert source.read_partitions(4_000_000, 8, 2) == 2
    assert source.read_partitions(4_000_000, 1, 2) == 1
    assert source.read_partitions(100, 8, 2) == 1
    assert source.read_partitions(4_000_000, 8, None) == 8
    monkeypatch.setattr(source, "task_slots", lambda spark: None)  # as on Glue
    just_over = source.RangeExtent({DAY: 4 * 250_000 + 1}, {}, min_key=1, max_key=1_000_001)
    with source.SourceSnapshot(spark, stack.source) as snapshot:

        def partitions(extent: source.RangeExtent, *cap: int) -> int:
            df = source.read_range(spark, snapshot, fact, DAY, DAY, extent, *cap)
            return int(df.rdd.getNumPartitions())

        assert partitions(huge) == 4 == partitions(just_over)
        assert partitions(huge, 8) == 8 and partitions(huge, 1) == 1


def test_rerun_replaces_the_day_and_touches_no_other(spark, stack, seeded, lake, new_run) -> None:  # type: ignore[no-untyped-def]
    extract_days(spark, stack.source, new_run(), "sales", DayRange.one(date(2015, 1, 6)))
    first = extract_days(spark, stack.source, new_run(), "sales", DayRange.one(DAY))
    root = Path(lake.root)
    neighbour = {k: v for k, v in lake_files(root).items() if "2015-01-06" in k}
    time.sleep(0.01)

    again = extract_days(spark, stack.source, new_run(), "sales", DayRange.one(DAY))

    assert again.rows_out == first.rows_out
    assert spark.read.parquet(again.location).count() == first.rows_out  # replaced, not appended
    published = day_location(new_run().catalog, tables.FACTDATA["sales"], DAY)
    assert published is not None and published.endswith(again.location)
    assert again.location != first.location
    assert {k: v for k, v in lake_files(root).items() if "2015-01-06" in k} == neighbour


def test_a_day_that_became_empty_leaves_no_rows_behind(spark, stack, seeded, lake, new_run) -> None:  # type: ignore[no-untyped-def]
    empty_day = date(2015, 3, 1)
    with seeded.connect() as conn:
        conn.execute(
            "INSERT INTO retail.sales VALUES (9100000000000001, 'X', '2015-03-01 12:00', 1, 1, 1, "
            "1.00, 0.00, 'CARD')"
        )
    try:
        assert (
            extract_days(spark, stack.source, new_run(), "sales", DayRange.one(empty_day)).rows_out
            == 1
        )
    finally:
        with seeded.connect() as conn:
            conn.execute("DELETE FROM retail.sales WHERE sale_id = 9100000000000001")

    before = runs_holding(lake, tables.FACTDATA["sales"], empty_day)
    emptied = new_run()
    result = extract_days(spark, stack.source, emptied, "sales", DayRange.one(empty_day))

    assert (result.rows_in, result.rows_out) == (0, 0)
    assert result.note == "no rows: published empty"
    run = new_run()
    assert day_location(run.catalog, tables.FACTDATA["sales"], empty_day) is None
    # the day's folder of the run before is kept for a rollback; the emptying run leaves none
    assert runs_holding(lake, tables.FACTDATA["sales"], empty_day) == before
    assert emptied.run_id not in before and len(before) == 1


def test_unreachable_source_names_host_and_port_and_writes_nothing(spark, lake, new_run) -> None:  # type: ignore[no-untyped-def]
    closed = SourceDb("127.0.0.1", free_port(), "retail", "retail")
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match=rf"PostgreSQL at 127\.0\.0\.1:{closed.port}"):
        extract_days(spark, closed, new_run(), "balju", DayRange.one(DAY))
    assert time.monotonic() - started < 30
    assert lake_files(Path(lake.root)) == {}


def test_a_source_failing_mid_read_is_said_in_its_words_and_publishes_nothing(  # type: ignore[no-untyped-def]
    spark, stack, seeded, new_run, monkeypatch
) -> None:
    # The day's read fails inside PostgreSQL once Spark runs it (as when the server is stopped
    # mid-read: "FATAL: terminating connection due to administrator command").
    read_range = source.read_range

    def failing_read(spark, snapshot, fact, first, last, extent, cap, only=None):  # type: ignore[no-untyped-def]
        read_range(spark, snapshot, fact, first, last, extent, cap, only)
        failing = (
            "(SELECT *, 'x' AS extract_date FROM retail.sales WHERE 1 / (sale_id - sale_id) = 1) q"
        )
        options = source.jdbc_options(snapshot.source)
        return spark.read.format("jdbc").options(**options, dbtable=failing).load()

    monkeypatch.setattr(source, "read_range", failing_read)
    run = new_run()
    with pytest.raises(SourceUnavailableError) as failed:
        extract_days(spark, stack.source, run, "sales", DayRange.one(DAY))
    assert str(failed.value) == (
        f"reading retail.sales from PostgreSQL at 127.0.0.1:{stack.source.port} failed: "
        "ERROR: division by zero"
    )
    assert day_location(run.catalog, tables.FACTDATA["sales"], DAY) is None
