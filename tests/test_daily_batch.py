"""End to end: the local runner on the seeded month, checked against SQL run in PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import free_port, lake_files, sort_rows, sql_all
from pyspark.sql import functions as F

from retail_etl.errors import StepFailedError
from retail_etl.lake import PARTITION_COLUMN, Lake
from retail_etl.local.runner import DailyBatch, format_summary
from retail_etl.settings import SourceDb

DAY = date(2015, 1, 5)
OTHER_DAY = date(2015, 1, 7)
DATABASE = "batch_test"  # the module's own catalog database

# Each silver table as the contract defines it, computed by PostgreSQL from the source.
EXPECTED_SQL = {
    "silver_dailybalju": """
        SELECT store_id, item_id, supplier_id, count(*), sum(order_qty), sum(order_qty * unit_cost)
        FROM retail.balju
        WHERE balju_date = %s AND status IS DISTINCT FROM 'CANCELLED'
        GROUP BY 1, 2, 3""",
    "silver_dailysales_item": """
        SELECT store_id, item_id, sum(qty), sum(CASE WHEN qty < 0 THEN -qty ELSE 0 END),
               sum(qty * unit_price), sum(discount_amt), sum(qty * unit_price) - sum(discount_amt),
               count(DISTINCT receipt_no)
        FROM retail.sales WHERE sold_at::date = %s GROUP BY 1, 2""",
    "silver_dailysales_store": """
        SELECT store_id, sum(qty), sum(qty * unit_price), sum(discount_amt),
               sum(qty * unit_price) - sum(discount_amt), count(DISTINCT receipt_no),
               round((sum(qty * unit_price) - sum(discount_amt)) / count(DISTINCT receipt_no), 2)
        FROM retail.sales WHERE sold_at::date = %s GROUP BY 1""",
    "silver_dailysales_hourly": """
        SELECT store_id, extract(hour FROM sold_at)::int, sum(qty),
               sum(qty * unit_price) - sum(discount_amt), count(DISTINCT receipt_no)
        FROM retail.sales WHERE sold_at::date = %s GROUP BY 1, 2""",
}


@pytest.fixture(scope="module")
def batch_lake(spark, stack, seeded, tmp_path_factory):  # type: ignore[no-untyped-def]
    lake = Lake(spark, str(tmp_path_factory.mktemp("batch") / "lake"))
    spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    for day in (OTHER_DAY, DAY):
        DailyBatch(spark, stack.source, lake, DATABASE).run(day)
    return lake


def catalog_rows(spark, database: str, table: str, day: date) -> list[tuple]:  # type: ignore[no-untyped-def]
    df = spark.sql(f"SELECT * FROM {database}.{table} WHERE extract_date = '{day}'")
    return sort_rows(tuple(r)[:-1] for r in df.collect())  # drop extract_date


@pytest.mark.parametrize("table", sorted(EXPECTED_SQL))
def test_silver_table_equals_sql_on_the_source(spark, stack, seeded, batch_lake, table) -> None:  # type: ignore[no-untyped-def]
    expected = sql_all(seeded, EXPECTED_SQL[table], (DAY,))
    got = catalog_rows(spark, DATABASE, table, DAY)
    assert got == expected
    assert len(got) > 5


def test_every_table_is_in_the_catalog_with_both_days(spark, stack, batch_lake) -> None:  # type: ignore[no-untyped-def]
    names = {t.name for t in spark.catalog.listTables(DATABASE)}
    assert names >= set(EXPECTED_SQL) | {"factdata_balju", "factdata_sales"}
    partitions = spark.sql(f"SHOW PARTITIONS {DATABASE}.silver_dailysales_store")
    assert sorted(r[0] for r in partitions.collect()) == [
        f"extract_date={DAY}",
        f"extract_date={OTHER_DAY}",
    ]


def test_rerun_gives_identical_outputs_and_leaves_other_days_alone(
    spark, stack, batch_lake
) -> None:  # type: ignore[no-untyped-def]
    root = Path(batch_lake.root)
    before = {t: catalog_rows(spark, DATABASE, t, DAY) for t in EXPECTED_SQL}
    other_files = {k: v for k, v in lake_files(root).items() if str(OTHER_DAY) in k}

    results = DailyBatch(spark, stack.source, batch_lake, DATABASE).run(DAY)

    assert [r.step for r in results] == [
        "d2s:balju", "s2s:dailybalju", "d2s:sales",
        "s2s:dailysales_item", "s2s:dailysales_store", "s2s:dailysales_hourly",
    ]  # fmt: skip
    assert {t: catalog_rows(spark, DATABASE, t, DAY) for t in EXPECTED_SQL} == before
    assert {k: v for k, v in lake_files(root).items() if str(OTHER_DAY) in k} == other_files
    summary = format_summary(results, DAY, 1.0)
    assert "d2s:sales" in summary
    assert "silver/dailysales_hourly/_runs/" in summary and "extract_date=2015-01-05" in summary


def test_a_failing_step_is_named(spark, stack, lake) -> None:  # type: ignore[no-untyped-def]
    closed = SourceDb("127.0.0.1", free_port(), "retail", "retail")
    with pytest.raises(
        StepFailedError,
        match=(
            r"^step balju: extract \(d2s\) failed: cannot read from PostgreSQL at "
            r"127\.0\.0\.1:\d+ .*refused"
        ),
    ):
        DailyBatch(spark, closed, lake, DATABASE).run(DAY)


def test_a_big_days_plans_give_the_same_silver_tables(
    spark, stack, seeded, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # A big day changes two plans: the silver sums are in whole cents unless a day's lines could
    # pass a 64-bit integer (transforms.cents_are_exact), and the item table's lines go into a
    # partition per steps.LINES_PER_ITEM_PARTITION once that is more than the session's. The
    # seeded day is small, so make the check refuse it and the partitions hold ten lines each.
    from retail_etl import steps, transforms

    plans, item_partitions = [], []
    line_sums, by_item = transforms._line_sums, transforms.daily_sales_by_item

    def spy(sales, cents):  # type: ignore[no-untyped-def]
        plans.append(cents)
        return line_sums(sales, cents)

    def spy_item(sales, by=(), cents=False, partitions=None):  # type: ignore[no-untyped-def]
        item_partitions.append(partitions)
        return by_item(sales, by, cents, partitions)

    monkeypatch.setattr(transforms, "cents_are_exact", lambda *largest: False)
    monkeypatch.setattr(transforms, "_line_sums", spy)
    monkeypatch.setattr(transforms, "daily_sales_by_item", spy_item)
    monkeypatch.setattr(steps, "LINES_PER_ITEM_PARTITION", 10)
    spark.sql("DROP DATABASE IF EXISTS batch_apart CASCADE")
    DailyBatch(spark, stack.source, Lake(spark, str(tmp_path / "lake")), "batch_apart").run(DAY)

    assert plans == [False, False]  # the item table's lines, and the store and hourly tables'

    ((lines,),) = sql_all(
        seeded, "SELECT count(*) FROM retail.sales WHERE sold_at::date = %s", (DAY,)
    )
    session = int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert item_partitions == [-(-lines // 10)] and lines // 10 > session
    for table in ("silver_dailysales_item", "silver_dailysales_store", "silver_dailysales_hourly"):
        assert catalog_rows(spark, "batch_apart", table, DAY) == sql_all(
            seeded, EXPECTED_SQL[table], (DAY,)
        ), table


def test_a_nights_writes_look_for_other_days_without_reading_a_row(
    spark, stack, seeded, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # A one-day run's tables carry their day as a constant, so the write's look for rows of
    # another day (Lake._write_day) is folded by Spark's optimizer to an empty relation instead
    # of computing the table once more: the store and hourly tables too, built from the
    # receipts kept for both (steps.build_dailysales).
    plans = {}
    write_day = Lake._write_day

    def spy(self, df, table, run_id, day):  # type: ignore[no-untyped-def]
        others = df.where(~F.col(PARTITION_COLUMN).eqNullSafe(day.isoformat()))
        plans[table.name] = str(others._jdf.queryExecution().optimizedPlan())
        return write_day(self, df, table, run_id, day)

    monkeypatch.setattr(Lake, "_write_day", spy)
    spark.sql("DROP DATABASE IF EXISTS batch_constant CASCADE")
    DailyBatch(spark, stack.source, Lake(spark, str(tmp_path / "lake")), "batch_constant").run(DAY)

    assert set(plans) >= set(EXPECTED_SQL) | {"factdata_balju", "factdata_sales"}
    for table, plan in plans.items():
        assert plan.startswith("LocalRelation <empty>"), (table, plan)


SPANNING_RECEIPT_SQL = """
    INSERT INTO retail.sales VALUES
      (7000000000000001, 'SPAN-1', '2015-01-08 10:59:59.999', 1, 1, 2, 1.25, 0.25, 'CARD'),
      (7000000000000002, 'SPAN-1', '2015-01-08 11:00:00',     1, 2, 1, 9.99, 0.00, 'CARD')
"""


def test_a_receipt_rung_up_over_two_hours_is_built_from_the_lines(
    spark, stack, seeded, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # The store and hourly tables come from one grouping of the lines by receipt; a receipt
    # whose lines fall in two hours makes the hourly table come from the lines instead.
    from retail_etl import transforms

    day, database = date(2015, 1, 8), "batch_spans"
    from_lines = []
    by_hour = transforms.daily_sales_by_hour

    def spy(sales, by=(), cents=False):  # type: ignore[no-untyped-def]
        from_lines.append(day)
        return by_hour(sales, by, cents)

    monkeypatch.setattr(transforms, "daily_sales_by_hour", spy)
    spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    lake = Lake(spark, str(tmp_path / "lake"))
    DailyBatch(spark, stack.source, lake, database).run(day)
    assert from_lines == []  # the sample's receipts are each rung up at one moment
    try:
        with seeded.connect() as conn:
            conn.execute(SPANNING_RECEIPT_SQL)
        DailyBatch(spark, stack.source, lake, database).run(day)
        assert from_lines == [day]
        for table in (
            "silver_dailysales_item",
            "silver_dailysales_store",
            "silver_dailysales_hourly",
        ):
            assert catalog_rows(spark, database, table, day) == sql_all(
                seeded, EXPECTED_SQL[table], (day,)
            ), table
    finally:
        with seeded.connect() as conn:
            conn.execute(
                "DELETE FROM retail.sales WHERE sale_id IN (7000000000000001, 7000000000000002)"
            )
