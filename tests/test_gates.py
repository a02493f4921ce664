"""Trustworthy days: one snapshot per extraction, gates that fail a run, nothing published then.

Expected values come from SQL run in PostgreSQL before the source is changed, or from the
contract; the data is made wrong on purpose between the write and the audit.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import jb_retail_factdata_d2s
import jb_retail_silver_dailybalju_s2s
import jb_retail_silver_dailysales_s2s
import pytest
from conftest import sql_one
from pyspark.sql import functions as F

from retail_etl import contract, source, steps, transforms
from retail_etl import lake as tables
from retail_etl.audit import Run, history
from retail_etl.catalogs import day_location
from retail_etl.errors import EtlError
from retail_etl.gates import GateFailed
from retail_etl.lake import Lake
from retail_etl.params import DayRange

DAY = date(2015, 1, 5)
SALES_SQL = (
    "SELECT count(*), sum(qty), sum(qty * unit_price), sum(discount_amt) FROM retail.sales "
    "WHERE sold_at >= DATE '2015-01-05' AND sold_at < DATE '2015-01-06'"
)


def test_the_silver_transforms_produce_exactly_the_contracts_columns(spark) -> None:  # type: ignore[no-untyped-def]
    balju = spark.createDataFrame([], contract.FACTDATA_BALJU.ddl)
    sales = spark.createDataFrame([], contract.FACTDATA_SALES.ddl)
    built = {
        "silver_dailybalju": transforms.daily_balju(balju),
        "silver_dailysales_item": transforms.daily_sales_by_item(sales),
        "silver_dailysales_store": transforms.daily_sales_by_store(sales),
        "silver_dailysales_hourly": transforms.daily_sales_by_hour(sales),
    }
    for name, df in built.items():
        found = tuple((f.name, f.dataType.simpleString()) for f in df.schema.fields)
        assert found == contract.CONTRACTS[name].columns, name


def sales_sql(day: date) -> str:
    """The day's count and sums, as the snapshot and the gates see them."""
    return SALES_SQL.replace("2015-01-05", str(day)).replace("2015-01-06", str(day + ONE_DAY))


ONE_DAY = timedelta(days=1)


class DayChange:
    """Another session's insert, update and delete in the day being read, and their undoing."""

    def __init__(self, pg, day: date = DAY) -> None:  # type: ignore[no-untyped-def]
        self.pg = pg
        in_day = (
            f"sold_at >= '{day}' AND sold_at < '{day + ONE_DAY}' AND sale_id BETWEEN 1 AND 9e15"
        )
        with pg.connect() as conn:
            ids = [r[0] for r in conn.execute(f"SELECT sale_id FROM retail.sales WHERE {in_day} "
                                              "ORDER BY sale_id").fetchall()]  # fmt: skip
        self.copied, self.updated, self.deleted = ids[:50], ids[-21:-1], ids[-1]
        self.row = None

    def commit(self) -> None:
        with self.pg.connect() as conn:
            conn.execute(
                "INSERT INTO retail.sales SELECT -sale_id, receipt_no, sold_at, store_id, "
                "item_id, qty, unit_price, discount_amt, payment_method FROM retail.sales "
                "WHERE sale_id = ANY(%s)",
                (self.copied,),
            )
            conn.execute(
                "UPDATE retail.sales SET qty = qty + 100 WHERE sale_id = ANY(%s)", (self.updated,)
            )
            self.row = conn.execute(
                "DELETE FROM retail.sales WHERE sale_id = %s RETURNING *", (self.deleted,)
            ).fetchone()

    def undo(self) -> None:
        """Put the day back as the other tests know it."""
        with self.pg.connect() as conn:
            conn.execute("DELETE FROM retail.sales WHERE sale_id < 0")
            conn.execute(
                "UPDATE retail.sales SET qty = qty - 100 WHERE sale_id = ANY(%s)", (self.updated,)
            )
            if self.row is not None:
                conn.execute(
                    "INSERT INTO retail.sales VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    self.row,
                )


def written_totals(spark, location: str) -> tuple:  # type: ignore[no-untyped-def, type-arg]
    found = spark.read.parquet(location).agg(
        F.count(F.lit(1)), F.sum("qty"), F.sum(F.col("qty") * F.col("unit_price")),
        F.sum("discount_amt"),
    ).first()  # fmt: skip
    return tuple(found)


def test_a_day_changed_while_it_is_read_is_written_as_of_the_snapshot(  # type: ignore[no-untyped-def]
    spark, stack, seeded, new_run, monkeypatch
) -> None:
    before = sql_one(seeded, SALES_SQL)
    range_extent = source.range_extent
    change = DayChange(seeded)

    def then_change_the_source(snapshot, fact, first, last, only=None):  # type: ignore[no-untyped-def]
        extent = range_extent(snapshot, fact, first, last, only)
        # another transaction commits after the snapshot was taken, before Spark reads a row
        change.commit()
        return extent

    monkeypatch.setattr(source, "range_extent", then_change_the_source)
    try:
        result = steps.extract_days(spark, stack.source, new_run(), "sales", DayRange.one(DAY))
        after = sql_one(seeded, SALES_SQL)
    finally:
        change.undo()
    assert sql_one(seeded, SALES_SQL) == before  # put back
    assert after != before  # the source did change during the read
    assert written_totals(spark, result.location) == before
    assert result.rows_out == before[0]


def test_a_day_changed_by_another_session_during_a_slow_read_is_the_snapshots(  # type: ignore[no-untyped-def]
    spark, stack, seeded, new_run, monkeypatch
) -> None:
    # Each row costs the reading partitions 3 ms (a view that sleeps), so the read takes seconds;
    # another session commits its insert, update and delete once the first partitions' queries
    # are seen running in pg_stat_activity, and the read is still running after the commit.
    # Without the shared snapshot the partitions started later would read the changed rows.
    with seeded.connect() as conn:
        conn.execute(
            "CREATE OR REPLACE VIEW retail.sales_slow AS "
            "SELECT * FROM retail.sales WHERE pg_sleep(0.003)::text = ''"
        )
    monkeypatch.setitem(
        source.FACT_TABLES,
        "sales",
        dataclasses.replace(source.FACT_TABLES["sales"], name="retail.sales_slow"),
    )
    # eight partitions, more than Spark runs at once: the later ones start after the commit
    # (a day without the edge rows, whose keys would stretch the first partition over the day)
    monkeypatch.setattr(source, "ROWS_PER_READ_PARTITION", 100)
    monkeypatch.setattr(source, "task_slots", lambda spark: None)  # not capped by the cores
    day = date(2015, 1, 8)
    before = sql_one(seeded, sales_sql(day))
    change = DayChange(seeded, day)
    seen: dict[str, int] = {}
    reading = (
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND query LIKE '%business_days%' AND pid <> pg_backend_pid()"
    )

    read_done = threading.Event()

    def change_during_the_read() -> None:
        # "before": partitions seen reading when the change commits; "after": partitions whose
        # query started after the commit, seen reading (a partition's query may take
        # milliseconds, so each count is the one seen, not a second look)
        deadline = time.monotonic() + 60
        with seeded.connect() as conn:
            conn.autocommit = True  # pg_stat_activity is read once per transaction otherwise
            found = 0
            while not found and time.monotonic() < deadline:
                found = conn.execute(reading).fetchone()[0]
                time.sleep(0.0 if found else 0.02)
            seen["before"] = found
        change.commit()
        with seeded.connect() as conn:
            conn.autocommit = True
            (committed,) = conn.execute("SELECT clock_timestamp()::text").fetchone()
            started_after = f"{reading} AND query_start > '{committed}'::timestamptz"
            seen["after"] = 0
            while not seen["after"] and not read_done.is_set() and time.monotonic() < deadline:
                seen["after"] = conn.execute(started_after).fetchone()[0]
                time.sleep(0.01)

    other = threading.Thread(target=change_during_the_read)
    other.start()
    try:
        result = steps.extract_days(
            spark, stack.source, new_run(), "sales", DayRange.one(day), max_connections=8
        )
        read_done.set()
        other.join(timeout=60)
        after = sql_one(seeded, sales_sql(day))
    finally:
        read_done.set()
        other.join(timeout=60)
        change.undo()
        with seeded.connect() as conn:
            conn.execute("DROP VIEW IF EXISTS retail.sales_slow")
    assert seen["before"] > 0 and seen["after"] > 0, seen  # committed while partitions read
    assert after != before
    assert written_totals(spark, result.location) == before
    assert result.rows_out == before[0]


def tamper(location: str, change) -> None:  # type: ignore[no-untyped-def]
    """Rewrite the Parquet files of one written day with `change` applied, in place on disk."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    assert spark is not None
    folder = Path(location.removeprefix("file:"))
    scratch = folder.with_name(folder.name + ".tampered")
    change(spark.read.parquet(str(folder))).write.parquet(str(scratch))
    shutil.rmtree(folder)
    scratch.rename(folder)


def drop_a_row(df):  # type: ignore[no-untyped-def]
    return df.orderBy("sale_id").limit(df.count() - 1)


def change_an_amount(df):  # type: ignore[no-untyped-def]
    first = df.agg(F.min("sale_id")).first()[0]
    bumped = F.col("unit_price") + F.lit(D("0.01"))
    return df.withColumn(
        "unit_price",
        F.when(F.col("sale_id") == first, bumped)
        .otherwise(F.col("unit_price"))
        .cast("decimal(12,2)"),
    )


def duplicate_a_key(df):  # type: ignore[no-untyped-def]
    one = df.orderBy("sale_id").limit(1)
    return df.orderBy("sale_id").limit(df.count() - 1).unionByName(one).unionByName(one.limit(0))


def duplicate_and_drop(df):  # type: ignore[no-untyped-def]
    # same count and the same sums would need luck: drop the last row, repeat the first twice
    ordered = df.orderBy(F.col("sale_id").desc())
    last = ordered.limit(1)
    rest = df.join(last.select("sale_id"), "sale_id", "left_anti")
    return rest.unionByName(
        last.withColumn("sale_id", F.lit(rest.agg(F.min("sale_id")).first()[0]))
    )


def move_a_key_outside_the_source(df):  # type: ignore[no-untyped-def]
    # still distinct, same rows and sums, but a key the snapshot never held: the word key
    # count takes only keys in the snapshot's range, so this fails IsPrimaryKey
    highest = df.agg(F.max("sale_id")).first()[0]
    moved = F.when(F.col("sale_id") == highest, F.lit(highest + 1_000_000))
    return df.withColumn("sale_id", moved.otherwise(F.col("sale_id")))


def null_a_key(df):  # type: ignore[no-untyped-def]
    lowest = df.agg(F.min("sale_id")).first()[0]
    nulled = F.when(F.col("sale_id") != lowest, F.col("sale_id"))
    return df.withColumn("sale_id", nulled.cast("bigint"))


# 2015-01-05 holds the edge rows, whose keys are far from the day's others: its keys are too
# sparse for words of 64 and are counted by count(DISTINCT). 2015-01-07's keys are dense: words.
DENSE_DAY = date(2015, 1, 7)
PK_FAILS = "IsPrimaryKey sale_id: expected {n}, found {n_1}"


@pytest.mark.parametrize(
    ("change", "day", "gate"),
    [
        (drop_a_row, DAY, "RowCountMatch rows: expected {n}, found {n_1}"),
        (change_an_amount, DAY, "AggregateMatch sum(qty * unit_price)"),
        (duplicate_and_drop, DAY, PK_FAILS),
        (null_a_key, DAY, PK_FAILS),
        (duplicate_and_drop, DENSE_DAY, PK_FAILS),
        (null_a_key, DENSE_DAY, PK_FAILS),
        (move_a_key_outside_the_source, DENSE_DAY, PK_FAILS),
    ],
    ids=[
        "row-dropped",
        "amount-changed",
        "key-duplicated",
        "key-null",
        "dense-key-duplicated",
        "dense-key-null",
        "dense-key-outside-source",
    ],
)
def test_a_wrong_raw_day_fails_the_job_and_publishes_nothing(  # type: ignore[no-untyped-def]
    spark, stack, seeded, job_env, monkeypatch, capsys, change, day, gate
) -> None:
    write_run = Lake.write_run

    def write_then_break(self, df, table, run_id, days):  # type: ignore[no-untyped-def]
        (location,) = (written := write_run(self, df, table, run_id, days)).values()
        tamper(location, change)  # after the write, before the run reads it back
        return written

    monkeypatch.setattr(Lake, "write_run", write_then_break)
    catalog_before = _published(spark, stack, "factdata_sales")

    code = jb_retail_factdata_d2s.main(["--TARGET_DATA", "sales", "--EXTRACT_DATE", str(day)])

    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    (n,) = sql_one(seeded, "SELECT count(*) FROM retail.sales WHERE sold_at::date = %s", (day,))
    # n: the day's rows, as the source counts them
    gate = f"factdata_sales {day}: " + gate.format(n=n, n_1=n - 1)
    assert len(err) == 1 and err[0].startswith(
        f"jb_retail_factdata_d2s: error: gate failed: {gate}"
    )
    assert _published(spark, stack, "factdata_sales") == catalog_before
    (record,) = history(Run("x", _lake(spark, job_env), None).lake, day, limit=1)  # type: ignore[arg-type]
    assert record["status"] == "failed" and gate in record["error"]
    assert [g for g in record["gates"] if not g["passed"]]


# the item table's (store_id, item_id) is counted by words of item_id within each store
# (steps._item_keys): a pair made twice, or an item the raw lines never held, is not a key
_TWO_ITEMS_AS_ONE = "CAST(item_id - item_id % 2 AS int)"
_AN_ITEM_NEVER_SOLD = "CASE WHEN item_id = max(item_id) OVER () THEN 1000000000 ELSE item_id END"


@pytest.mark.parametrize(
    ("table", "column", "changed", "gate"),
    [
        ("store", "net_amount", "CAST(net_amount + 1 AS decimal(34,2))",
         "AggregateMatch net_amount"),
        ("store", "receipt_count", "CAST(receipt_count + 1 AS bigint)",
         "AggregateMatch receipt_count by store"),
        ("item", "item_id", _TWO_ITEMS_AS_ONE, "IsPrimaryKey store_id, item_id"),
        ("item", "item_id", _AN_ITEM_NEVER_SOLD, "IsPrimaryKey store_id, item_id"),
    ],
    ids=["store-net", "store-receipts", "item-twice", "item-never-sold"],
)  # fmt: skip
def test_a_wrong_silver_day_fails_the_job_and_publishes_none_of_the_three(  # type: ignore[no-untyped-def]
    spark, stack, seeded, job_env, monkeypatch, capsys, table, column, changed, gate
) -> None:
    assert jb_retail_factdata_d2s.main(["--TARGET_DATA", "sales", "--EXTRACT_DATE", str(DAY)]) == 0
    before = {t: _published(spark, stack, t) for t in SILVER_SALES}
    write_run = Lake.write_run
    broken = f"silver_dailysales_{table}"

    def break_the_table(self, df, lake_table, run_id, days):  # type: ignore[no-untyped-def]
        (location,) = (written := write_run(self, df, lake_table, run_id, days)).values()
        if lake_table.name == broken:
            tamper(location, lambda d: d.withColumn(column, F.expr(changed)))
        return written

    monkeypatch.setattr(Lake, "write_run", break_the_table)
    capsys.readouterr()

    assert jb_retail_silver_dailysales_s2s.main(["--EXTRACT_DATE", str(DAY)]) == 1

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"gate failed: {broken} 2015-01-05: {gate}" in line
    assert {t: _published(spark, stack, t) for t in SILVER_SALES} == before


def test_a_wrong_balju_silver_day_is_caught(
    spark, stack, seeded, job_env, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    assert jb_retail_factdata_d2s.main(["--TARGET_DATA", "balju", "--EXTRACT_DATE", str(DAY)]) == 0
    write_run = Lake.write_run

    def drop_a_silver_row(self, df, table, run_id, days):  # type: ignore[no-untyped-def]
        (location,) = (written := write_run(self, df, table, run_id, days)).values()
        if table is tables.SILVER_DAILYBALJU:
            tamper(location, lambda d: d.orderBy("store_id", "item_id").limit(d.count() - 1))
        return written

    monkeypatch.setattr(Lake, "write_run", drop_a_silver_row)
    capsys.readouterr()

    assert jb_retail_silver_dailybalju_s2s.main(["--EXTRACT_DATE", str(DAY)]) == 1

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "gate failed: silver_dailybalju 2015-01-05: RowCountMatch order_lines" in line


SILVER_SALES = ("silver_dailysales_item", "silver_dailysales_store", "silver_dailysales_hourly")


def _published(spark, stack, table: str) -> str | None:  # type: ignore[no-untyped-def]
    from retail_etl.catalogs import HiveCatalog

    catalog = HiveCatalog(spark, stack.catalog_database)
    if not spark.catalog.tableExists(f"{stack.catalog_database}.{table}"):
        return None
    return day_location(catalog, tables.LakeTable(table, ""), DAY)


def _lake(spark, root: Path):  # type: ignore[no-untyped-def]
    from retail_etl.lake import Lake

    return Lake(spark, str(root))


def test_gate_failed_names_the_first_failure_and_counts_the_rest() -> None:
    from retail_etl.gates import GateResult

    results = [
        GateResult("RowCountMatch", "t", DAY, "rows", 3, 3),
        GateResult("AggregateMatch", "t", DAY, "sum(qty)", 10, 9),
        GateResult("IsPrimaryKey", "t", DAY, "id", 3, 2),
    ]
    failed = GateFailed(results)
    assert str(failed) == (
        "gate failed: t 2015-01-05: AggregateMatch sum(qty): expected 10, found 9 "
        "(and 1 more failed gate(s))"
    )


def test_figures_with_and_without_distinct_come_out_per_group(spark) -> None:  # type: ignore[no-untyped-def]
    # the DISTINCT figures run apart from the plain ones (gates.totals_by_group); each group
    # still gets all of them, and a group only some rows of which have a non-null key too
    from retail_etl.gates import totals_by_day, totals_by_group

    df = spark.createDataFrame(
        [("2015-01-05", 1, 7, D("1.50")), ("2015-01-05", 1, 7, D("2.00")),
         ("2015-01-05", 2, None, None), ("2015-01-06", 1, 8, D("0.25"))],
        "extract_date string, store_id int, k int, amount decimal(12,2)",
    )  # fmt: skip
    figures = {"rows": "count(1)", "amount": "sum(amount)", "keys": "count(DISTINCT k)"}
    assert totals_by_group(df, ["extract_date", "store_id"], figures) == {
        ("2015-01-05", 1): {"rows": 2, "amount": D("3.50"), "keys": 1},
        ("2015-01-05", 2): {"rows": 1, "amount": None, "keys": 0},
        ("2015-01-06", 1): {"rows": 1, "amount": D("0.25"), "keys": 1},
    }
    by_day = totals_by_day(df, figures, [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)])
    assert by_day[DAY] == {"rows": 3, "amount": D("3.50"), "keys": 1}
    assert by_day[DAY + timedelta(days=2)] == {"rows": 0, "amount": None, "keys": 0}


LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def test_keys_counted_by_words_are_exactly_the_distinct_keys_in_range(spark) -> None:  # type: ignore[no-untyped-def]
    # words of 64 keys from the lowest: keys on both sides of word edges, duplicated within and
    # across days, nulls, keys below and above the range, and the longs' extremes
    from retail_etl.gates import DistinctKeys, totals_by_day

    low, high = -40_000, 70_000
    day_keys = {
        "2015-01-05": [low, low, low + 63, low + 64, low + 64, low + 127, low + 128, -1, 0, 1,
                       32_768, 32_768, high - 1, high, None, low - 1, high + 1, LONG_MIN,
                       LONG_MAX],
        "2015-01-06": [0, 0, 5, 32_769, 65_536, None, None],
    }  # fmt: skip
    rows = [(day, k, 1) for day, keys in day_keys.items() for k in keys]
    df = spark.createDataFrame(rows, "extract_date string, k bigint, qty int")
    figures = {"rows": "count(1)", "qty": "sum(qty)", "keys": DistinctKeys("k", low, high)}

    found = totals_by_day(df, figures, [DAY, DAY + ONE_DAY, DAY + 2 * ONE_DAY])

    for day, keys in day_keys.items():
        inside = {k for k in keys if k is not None and low <= k <= high}
        assert found[date.fromisoformat(day)] == {
            "rows": len(keys),
            "qty": len(keys),
            "keys": len(inside),
        }
    assert found[DAY + 2 * ONE_DAY] == {"rows": 0, "qty": None, "keys": 0}


def test_keys_at_the_ends_of_the_long_range_are_counted(spark) -> None:  # type: ignore[no-untyped-def]
    from retail_etl.gates import DistinctKeys, totals_by_group

    keys = [LONG_MIN, LONG_MIN + 1, LONG_MIN + 40_000, LONG_MIN + 40_000]
    df = spark.createDataFrame([("d", k) for k in keys], "extract_date string, k bigint")
    lowest = DistinctKeys("k", LONG_MIN, LONG_MIN + 100_000)
    assert totals_by_group(df, ["extract_date"], {"keys": lowest}) == {("d",): {"keys": 3}}
    keys = [LONG_MAX, LONG_MAX - 1, LONG_MAX - 1, LONG_MAX - 70_000]
    df = spark.createDataFrame([("d", k) for k in keys], "extract_date string, k bigint")
    highest = DistinctKeys("k", LONG_MAX - 100_000, LONG_MAX)
    assert totals_by_group(df, ["extract_date"], {"keys": highest}) == {("d",): {"keys": 3}}


def test_only_dense_keys_are_counted_by_words() -> None:
    # a word of 64 keys is a group of the aggregation: sparse keys would make more groups than
    # rows, so the span (times the groups of the key's other columns) must be at most 64 keys
    # a row
    from retail_etl.gates import DistinctKeys, key_count

    assert key_count(["sale_id"], (1, 64_000), 1_000) == {
        "keys": DistinctKeys("sale_id", 1, 64_000)
    }
    assert key_count(["sale_id"], (1, 64_001), 1_000) == {"keys": "count(DISTINCT sale_id)"}
    assert key_count(["sale_id"]) == {"keys": "count(DISTINCT sale_id)"}
    assert key_count(["a", "b"]) == {"keys": "count(DISTINCT a, b)"}
    assert key_count(["a", "b"], (1, 6_400), 1_000, groups=10) == {
        "keys": DistinctKeys("b", 1, 6_400, ("a",))
    }
    assert key_count(["a", "b"], (1, 6_401), 1_000, groups=10) == {"keys": "count(DISTINCT a, b)"}


def test_the_item_tables_key_is_counted_by_words_only_when_they_are_few() -> None:
    # ten million lines in 200 stores: 5,000 dense items make 15,800 words, items 64 apart a
    # million, more than the lines / 16; no item at all, no range
    from retail_etl.gates import DistinctKeys

    key = ["store_id", "item_id"]
    dense = steps.RawSales(10_000_000, {}, {}, [], (1, 5_000), 200)
    assert steps._item_keys(key, dense) == {
        "keys": DistinctKeys("item_id", 1, 5_000, ("store_id",))
    }
    for raw in (dense._replace(items=(1, 64 * 5_000)), dense._replace(items=None)):
        assert steps._item_keys(key, raw) == {"keys": "count(DISTINCT store_id, item_id)"}


def test_keys_counted_by_words_within_a_column_are_the_distinct_pairs(spark) -> None:  # type: ignore[no-untyped-def]
    # (store, item) keys by words of item within each store: the same item in two stores is
    # two keys; a null store, a null item or an item outside the range is none, as the pair's
    # count(DISTINCT) in the figure's own SQL skips a null; the expected counts from Python's
    # sets of the pairs
    from retail_etl.gates import DistinctKeys, totals_by_day

    low, high = 100, 700
    day_keys = {
        "2015-01-05": [(1, 100), (1, 100), (2, 100), (1, 163), (1, 164), (2, 164), (3, 700),
                       (None, 200), (None, 201), (4, None), (1, 99), (1, 701), (5, 400)],
        "2015-01-06": [(1, 100), (1, 100), (None, None)],
    }  # fmt: skip
    # a quantity on the first day's lines, none on the second's: its sum with a null as 0 is
    # added up over the words too
    rows = [
        (day, s, k, 2 if day == "2015-01-05" else None)
        for day, keys in day_keys.items()
        for s, k in keys
    ]
    df = spark.createDataFrame(rows, "extract_date string, s int, k int, q int")
    figure = DistinctKeys("k", low, high, ("s",))
    days = [DAY, DAY + ONE_DAY, DAY + 2 * ONE_DAY]

    figures = {"rows": "count(1)", "q": "coalesce(sum(q), 0)", "keys": figure}
    found = totals_by_day(df, figures, days)
    by_sql = totals_by_day(df, {"keys": figure.sql}, days)

    for day, keys in day_keys.items():
        inside = {(s, k) for s, k in keys if s is not None and k is not None and low <= k <= high}
        q = 2 * len(keys) if day == "2015-01-05" else 0
        assert found[date.fromisoformat(day)] == {"rows": len(keys), "q": q, "keys": len(inside)}
        assert by_sql[date.fromisoformat(day)] == {"keys": len(inside)}, day
    assert found[DAY + 2 * ONE_DAY] == {"rows": 0, "q": 0, "keys": 0}


@pytest.mark.parametrize(
    ("sql", "total"),
    [
        ("count(1)", True),
        ("sum(qty * unit_price)", True),
        ("SUM ( (a + b) * c )", True),
        ("sum(a) + 1", False),
        ("sum(a) / count(1)", False),
        ("count(DISTINCT a)", False),
        ("coalesce(sum(a), 0)", True),  # a day without rows: 0
        ("COALESCE( count(a) ,0 )", True),
        ("coalesce(sum(a), 1)", False),
        ("coalesce(sum(a), sum(b), 0)", False),
        ("coalesce(sum(a), 0) - coalesce(sum(b), 0)", False),
        ("coalesce(sum(DISTINCT a), 0)", False),
        ("max(a)", False),
        ("sum(a", False),
    ],
)
def test_only_whole_counts_and_sums_are_added_up_over_key_buckets(sql, total) -> None:  # type: ignore[no-untyped-def]
    from retail_etl.gates import _is_total

    assert _is_total(sql) is total


def test_a_published_location_that_is_not_a_day_folder_is_refused(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the day comes from the folder's name: a catalog partition pointing elsewhere (edited by
    # hand, say) must not be read as a day without one
    lake = Lake(spark, str(tmp_path))
    day = tmp_path / "factdata/sales/_runs/r1/extract_date=2015-01-05"
    other = tmp_path / "factdata/sales/_runs/r1/copy-of-2015-01-06"
    spark.createDataFrame([(1,)], "x int").write.parquet(str(day))
    spark.createDataFrame([(2,)], "x int").write.parquet(str(other))
    assert [tuple(r) for r in lake.read_locations([str(day)], "x int").collect()] == [
        (1, "2015-01-05")
    ]
    with pytest.raises(EtlError, match=f"^{other} is not a day folder"):
        lake.read_locations([str(day), str(other)], "x int")


RAW_LINES = [
    # day, store, item, receipt, qty, unit_price, discount_amt
    ("2015-01-05", 1, 30, "R1", 2, D("10.05"), D("0.10")),
    ("2015-01-05", 1, 30, "R1", -1, D("10.05"), None),  # a return; no discount
    ("2015-01-05", 1, None, "R2", 3, D("0.99"), D("0.01")),  # a line without an item
    ("2015-01-05", 2, 12, None, 1, D("5.00"), D("0.00")),  # a line without a receipt
    ("2015-01-06", 1, 41, "R1", 7, D("1.10"), D("0.70")),  # the same receipt text, another day
]


@pytest.mark.parametrize(
    "extra",
    [
        [],
        # a line so large that whole cents could pass a 64-bit integer: the money in decimals
        [("2015-01-05", 2, 20, "R9", 2**31 - 1, D("9999999999.99"), D("9999999999.99"))],
    ],
    ids=["cents", "decimals"],
)
@pytest.mark.parametrize("span", ["several", "one"])
def test_the_raw_sales_figures_are_the_lines_totals(spark, extra, span) -> None:  # type: ignore[no-untyped-def]
    # expected values computed here from the lines, in Python's exact decimals; one day (a
    # night's run) is grouped by store alone
    lines = RAW_LINES + extra
    days = [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    if span == "one":
        lines = [line for line in lines if line[0] == DAY.isoformat()]
        days = [DAY]
    df = spark.createDataFrame(
        lines,
        "extract_date string, store_id int, item_id int, receipt_no string, qty int, "
        "unit_price decimal(12,2), discount_amt decimal(12,2)",
    )

    raw = steps._raw_sales_figures(df, days)
    rows_in, totals, receipts, largest = raw.rows, raw.totals, raw.receipts, raw.largest

    assert rows_in == len(lines)
    items = [i for _, _, i, *_ in lines if i is not None]
    assert raw.items == (min(items), max(items))
    assert raw.stores == len({(d, s) for d, s, *_ in lines})
    assert largest == [
        max(abs(q) for *_, q, _, _ in lines),
        max(p for *_, p, _ in lines),
        max(d for *_, d in lines if d is not None),
    ]
    assert transforms.cents_are_exact(rows_in, *largest) is (not extra)
    for day in days:
        mine = [line for line in lines if line[0] == day.isoformat()]
        gross = sum((q * p for *_, q, p, _ in mine), D(0))
        discount = sum((d for *_, d in mine if d is not None), D(0))
        assert totals[day] == {
            "sales_qty": sum(q for *_, q, _, _ in mine),
            "return_qty": sum(-q for *_, q, _, _ in mine if q < 0),
            "gross_amount": gross,
            "discount_amount": discount,
            "net_amount": gross - discount,
        }, day
        assert receipts[day] == {
            store: len({r for _, s, _, r, *_ in mine if s == store and r is not None})
            for store in {s for _, s, *_ in mine}
        }, day


@pytest.mark.parametrize("days", [[DAY], [DAY, DAY + timedelta(days=2)]], ids=["one", "several"])
def test_a_run_writes_no_day_it_was_not_asked_for(spark, tmp_path, days) -> None:  # type: ignore[no-untyped-def]
    # one day is written straight into its folder, several by a partitioned write: either way
    # a row of another day (or of none) fails the write, naming the days, and nothing of the
    # day it was asked for is returned for publishing
    lake = Lake(spark, str(tmp_path))
    table = tables.LakeTable("t", "t")
    rows = [(1, DAY.isoformat()), (2, "2015-01-06"), (3, None)]
    df = spark.createDataFrame(rows, "x int, extract_date string")
    with pytest.raises(EtlError, match=r"/t/_runs/r1 holds days the run was not asked for: "):
        lake.write_run(df, table, "r1", days)
    try:
        lake.write_run(df.where("x < 3"), table, "r2", days)
    except EtlError as err:
        assert str(err).endswith("holds days the run was not asked for: 2015-01-06")
    else:
        raise AssertionError("a row of 2015-01-06 was written")

    # a constant day, as every one-day step gives: the day's rows in its folder, without it
    written = lake.write_run(
        spark.range(3).withColumn("extract_date", F.lit(DAY.isoformat())), table, "r3", days
    )
    assert written == {DAY: lake.run_day_location(table, "r3", DAY)}
    assert spark.read.parquet(written[DAY]).columns == ["id"]
    assert spark.read.parquet(written[DAY]).count() == 3


@pytest.mark.parametrize("words", [False, True], ids=["plain", "with-keys"])
@pytest.mark.parametrize(
    "extra",
    [
        [],
        # whole cents of this line times its quantity pass 2**63 - 1: the sums in decimals
        [("d", 99, 2**31 - 1, D("9999999999.99"))],
        # the same with the int -2**31, whose abs is itself, negative, unless widened first
        [("h", 98, -(2**31), D("9999999999.99"))],
    ],
    ids=["cents", "decimals", "decimals-lowest-int"],
)
@pytest.mark.parametrize("read", ["decimals", "cents"])
def test_money_summed_in_cents_is_the_decimal_sum(spark, tmp_path, extra, words, read) -> None:  # type: ignore[no-untyped-def]
    # expected values computed here, in Python's exact decimals; a sum over no money is null.
    # `cents`: the lines written to Parquet and read back with the money as whole cents, as
    # the d2s's read-back does (gates.read_in_cents)
    from retail_etl.gates import (
        CentsSum,
        DistinctKeys,
        LargestMoney,
        read_in_cents,
        totals_by_group,
    )

    lines = [
        ("d", 1, 3, D("1.10")),
        ("d", 2, -2, D("0.05")),
        ("d", 3, None, D("7.00")),
        ("d", 4, 4, None),
        ("d", 5, 2**31 - 1, D("-0.01")),
        ("e", 6, 1, D("-3.33")),
        ("f", 7, 5, None),
        *extra,
    ]
    columns = (("g", "string"), ("k", "bigint"), ("qty", "int"), ("price", "decimal(12,2)"))
    df = spark.createDataFrame(lines, ", ".join(f"{n} {t}" for n, t in columns))
    if read == "cents":
        df.write.parquet(str(tmp_path / "lines"))
        df = spark.read.schema(read_in_cents(columns, ["price"])).parquet(str(tmp_path / "lines"))
        assert dict(df.dtypes)["price"] == "bigint"
    figures = {
        "rows": "count(1)",
        "gross": CentsSum("price", factor="qty"),
        "money": CentsSum("price"),
        "largest": LargestMoney("price"),
        **({"keys": DistinctKeys("k", 1, 99)} if words else {}),
    }

    found = totals_by_group(df, ["g"], figures)

    assert sorted(found) == sorted({(line[0],) for line in lines})
    for (group,) in found:
        mine = [line for line in lines if line[0] == group]
        products = [q * p for _, _, q, p in mine if q is not None and p is not None]
        prices = [p for *_, p in mine if p is not None]
        assert found[(group,)] == {
            "rows": len(mine),
            "gross": sum(products, D(0)) if products else None,
            "money": sum(prices, D(0)) if prices else None,
            "largest": max(abs(p) for p in prices) if prices else None,
            **({"keys": len(mine)} if words else {}),
        }, group
        if prices:  # two places, as the source's numeric sum prints
            assert found[(group,)]["money"].as_tuple().exponent == -2
            assert found[(group,)]["largest"].as_tuple().exponent == -2


@pytest.mark.parametrize("vectorized", ["true", "false"])
def test_money_read_in_cents_is_what_the_files_hold(spark, tmp_path, vectorized) -> None:  # type: ignore[no-untyped-def]
    # a decimal(12,2) written by Spark and read as a bigint is its value in whole cents, with
    # Parquet's vectorized reader and with its row reader
    from retail_etl.gates import read_in_cents

    prices = [D("0.01"), D("-0.01"), D("1.10"), D("-3.33"), D("9999999999.99"), None]
    columns = (("price", "decimal(12,2)"), ("cost", "decimal(12,2)"))
    spark.createDataFrame(
        [(p, p) for p in prices], "price decimal(12,2), cost decimal(12,2)"
    ).coalesce(1).write.parquet(str(tmp_path / "p"))
    schema = read_in_cents(columns, ["price"])
    assert schema == "`price` bigint, `cost` decimal(12,2)"  # only the columns asked for
    setting = "spark.sql.parquet.enableVectorizedReader"
    spark.conf.set(setting, vectorized)
    try:
        found = spark.read.schema(schema).parquet(str(tmp_path / "p")).collect()
    finally:
        spark.conf.unset(setting)
    assert sorted(found, key=str) == sorted(
        [(None if p is None else int(p * 100), p) for p in prices], key=str
    )


def test_a_read_takes_in_cents_only_money_no_plain_figure_names() -> None:
    from retail_etl.gates import CentsSum, LargestMoney, cents_columns

    figures = {
        "gross": CentsSum("price", factor="qty"),
        "largest": LargestMoney("price"),
        "cost": CentsSum("cost"),
        "fee": CentsSum("fee"),
        "fees": "sum(fee) FILTER (WHERE qty > 0)",  # reads fee as the contract types it
        "qty": "sum(qty)",
        "prices": "count(price_band)",  # another column whose name holds `price`
    }
    assert cents_columns(figures) == ["price", "cost"]
    assert cents_columns({"n": "count(1)"}) == []


def test_only_two_place_decimals_spark_keeps_in_64_bits_are_read_in_cents() -> None:
    from retail_etl.gates import read_in_cents

    columns = (
        ("a", "decimal(12,2)"), ("b", "decimal(18,2)"), ("c", "decimal(10, 2)"),
        ("d", "decimal(9,2)"), ("e", "decimal(19,2)"), ("f", "decimal(12,3)"),
        ("g", "int"), ("h", "decimal(33,2)"),
    )  # fmt: skip
    assert read_in_cents(columns, "abcdefgh") == (
        "`a` bigint, `b` bigint, `c` bigint, `d` decimal(9,2), `e` decimal(19,2), "
        "`f` decimal(12,3), `g` int, `h` decimal(33,2)"
    )
