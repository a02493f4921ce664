"""Days that stay true: nights with a look-back restate the days the source changed since.

The source here is a database of its own in the suite's PostgreSQL (the shared sample is left
alone), seeded as it stood at each night's moment (`seed --as-of`). Every expected value is SQL
on that source, written here, never the code under test; DataFrames compare with chispa.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame

from retail_etl import lake as lake_tables
from retail_etl import source
from retail_etl.audit import Run, format_history
from retail_etl.catalogs import HiveCatalog
from retail_etl.lake import FACTDATA, SILVER_DAILYBALJU, Lake
from retail_etl.local import sample
from retail_etl.local.runner import DailyBatch
from retail_etl.params import DayRange
from retail_etl.publish import run_of
from retail_etl.settings import SourceDb
from retail_etl.steps import build_dailybalju, extract_days

DATABASE = "restate_source"
LOOKBACK = 3
FIRST_NIGHT, LAST_NIGHT = date(2015, 1, 2), date(2015, 1, 15)
# Small, but with enough stores that late tills (1 store-day in 50) happen within a fortnight.
SPEC = sample.SampleSpec(
    start=date(2015, 1, 1), days=20, sales_per_day=400, balju_per_day=60,
    stores=25, items=40, suppliers=5, seed=11,
)  # fmt: skip

# Every published table of a window, as the contract defines it, computed by PostgreSQL from
# the source; the first column is the day.
DAY_OF = {"sales": "sold_at::date", "balju": "balju_date"}
WINDOW_SQL = {
    "factdata_balju": """
        SELECT balju_date::text, count(*) FROM retail.balju
        WHERE balju_date BETWEEN %(first)s AND %(last)s GROUP BY 1""",
    "factdata_sales": """
        SELECT sold_at::date::text, count(*) FROM retail.sales
        WHERE sold_at >= %(first)s AND sold_at < %(last)s::date + 1 GROUP BY 1""",
    "silver_dailybalju": """
        SELECT balju_date::text, store_id, item_id, supplier_id, count(*), sum(order_qty),
               sum(order_qty * unit_cost)
        FROM retail.balju
        WHERE balju_date BETWEEN %(first)s AND %(last)s
          AND status IS DISTINCT FROM 'CANCELLED'
        GROUP BY 1, 2, 3, 4""",
    "silver_dailysales_item": """
        SELECT sold_at::date::text, store_id, item_id, sum(qty),
               sum(CASE WHEN qty < 0 THEN -qty ELSE 0 END), sum(qty * unit_price),
               sum(discount_amt), sum(qty * unit_price) - sum(discount_amt),
               count(DISTINCT receipt_no)
        FROM retail.sales WHERE sold_at >= %(first)s AND sold_at < %(last)s::date + 1
        GROUP BY 1, 2, 3""",
    "silver_dailysales_store": """
        SELECT sold_at::date::text, store_id, sum(qty), sum(qty * unit_price), sum(discount_amt),
               sum(qty * unit_price) - sum(discount_amt), count(DISTINCT receipt_no),
               round((sum(qty * unit_price) - sum(discount_amt)) / count(DISTINCT receipt_no), 2)
        FROM retail.sales WHERE sold_at >= %(first)s AND sold_at < %(last)s::date + 1
        GROUP BY 1, 2""",
    "silver_dailysales_hourly": """
        SELECT sold_at::date::text, store_id, extract(hour FROM sold_at)::int, sum(qty),
               sum(qty * unit_price) - sum(discount_amt), count(DISTINCT receipt_no)
        FROM retail.sales WHERE sold_at >= %(first)s AND sold_at < %(last)s::date + 1
        GROUP BY 1, 2, 3""",
}


@pytest.fixture(scope="module")
def source_db(pg) -> Iterator[SourceDb]:  # type: ignore[no-untyped-def]
    with pg.connect(database="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    yield SourceDb("127.0.0.1", pg.port, DATABASE, pg.user)
    with pg.connect(database="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def seed_as_of(pg, moment: datetime | None) -> None:  # type: ignore[no-untyped-def]
    with pg.connect(database=DATABASE) as conn:
        sample.seed(conn, sample.SampleSpec(**{**SPEC.__dict__, "as_of": moment}))


def execute(pg, sql: str, params: tuple = ()) -> int:  # type: ignore[no-untyped-def]
    with pg.connect(database=DATABASE) as conn:
        return int(conn.execute(sql, params).rowcount)


def night_of(day: date) -> datetime:
    """When the schedule extracts `day`: 01:00 in Seoul the next morning."""
    return datetime(day.year, day.month, day.day) + timedelta(days=1, hours=1)


def published(spark, database: str, table: str, first: date, last: date) -> DataFrame:  # type: ignore[no-untyped-def]
    """The catalog's rows of `table` for the days, the day first, as the SQL gives them."""
    df = spark.sql(
        f"SELECT * FROM {database}.{table} WHERE extract_date BETWEEN '{first}' AND '{last}'"
    )
    if table.startswith("factdata_"):
        return df.groupBy("extract_date").count()
    columns = [c for c in df.columns if c != "extract_date"]
    return df.select("extract_date", *columns)


def expected(spark, pg, table: str, like: DataFrame, first: date, last: date) -> DataFrame:  # type: ignore[no-untyped-def]
    with pg.connect(database=DATABASE) as conn:
        rows = conn.execute(WINDOW_SQL[table], {"first": first, "last": last}).fetchall()
    return spark.createDataFrame([tuple(r) for r in rows], like.schema)


def assert_window_equals_source(spark, pg, database: str, first: date, last: date) -> None:  # type: ignore[no-untyped-def]
    for table in WINDOW_SQL:
        got = published(spark, database, table, first, last)
        assert_df_equality(
            got,
            expected(spark, pg, table, got, first, last),
            ignore_row_order=True,
            ignore_nullable=True,
        )


def locations(catalog: HiveCatalog, days: list[date]) -> dict[tuple[str, date], str]:
    if not days:
        return {}
    return {
        (t.name, d): loc
        for t in lake_tables.ALL_TABLES
        for d, loc in catalog.day_locations(t, days).items()
    }


def decisions(runs: list[Run]) -> list[dict[str, Any]]:
    return [d.as_record() for run in runs for d in run.decisions]


def test_a_fortnight_of_nights_keeps_every_window_day_equal_to_the_source(  # type: ignore[no-untyped-def]
    spark, pg, source_db, tmp_path
) -> None:
    lake = Lake(spark, str(tmp_path / "lake"))
    database = "restate_fortnight"
    spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    catalog = HiveCatalog(spark, database)
    restated: dict[str, int] = {}
    night = FIRST_NIGHT
    while night <= LAST_NIGHT:
        window_first = night - timedelta(days=LOOKBACK)
        older = [SPEC.start + timedelta(days=n) for n in range((window_first - SPEC.start).days)]
        before = locations(catalog, older)
        seed_as_of(pg, night_of(night))

        batch = DailyBatch(spark, source_db, lake, database, lookback=LOOKBACK)
        batch.run(night)

        assert_window_equals_source(spark, pg, database, max(window_first, SPEC.start), night)
        assert locations(catalog, older) == before, f"night {night} touched a day before its window"
        for d in decisions(batch.runs):
            if d["decision"] == "restated":
                restated[d.get("reason", "")] = restated.get(d.get("reason", ""), 0) + 1
        night += timedelta(days=1)
    # the fortnight did restate, for the reasons a look-back exists (else this proved nothing)
    assert restated.get("changed", 0) >= 10 and restated.get("raw republished", 0) >= 10, restated


def test_each_kind_of_change_is_caught_and_a_quiet_night_reads_only_its_day(  # type: ignore[no-untyped-def]
    spark, pg, source_db, tmp_path, monkeypatch
) -> None:
    lake = Lake(spark, str(tmp_path / "lake"))
    database = "restate_changes"
    spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    seed_as_of(pg, None)  # the final state: nothing changes between nights unless we change it
    read: list[list[date] | None] = []
    real_read_range = source.read_range

    def spy(*args: Any, **kwargs: Any) -> DataFrame:
        read.append(sorted(kwargs["only"]) if kwargs.get("only") is not None else None)
        return real_read_range(*args, **kwargs)

    monkeypatch.setattr(source, "read_range", spy)
    DailyBatch(spark, source_db, lake, database, lookback=LOOKBACK).run(date(2015, 1, 10))

    # a quiet night: the window (7th to 9th... and the 10th) was published as it still is
    read.clear()
    quiet = DailyBatch(spark, source_db, lake, database, lookback=LOOKBACK)
    quiet.run(date(2015, 1, 11))
    assert read == [[date(2015, 1, 11)]] * 2  # each d2s read its day alone
    window = {date(2015, 1, 8), date(2015, 1, 9), date(2015, 1, 10)}
    for run in quiet.runs:
        assert {d.day for d in run.decisions if d.decision == "unchanged"} == window, run.job
        assert {d.day for d in run.decisions if d.written} == {date(2015, 1, 11)}, run.job

    # four changes a count and the control sums cannot all see, on three days of the window
    cancelled = execute(
        pg,
        "UPDATE retail.balju SET status = 'CANCELLED', updated_at = updated_at + interval '1 day' "
        "WHERE balju_id = (SELECT min(balju_id) FROM retail.balju "
        "WHERE balju_date = '2015-01-10' AND status = 'CONFIRMED')",
    )
    late = execute(
        pg,
        "INSERT INTO retail.sales SELECT sale_id + 50000000, receipt_no || '-LATE', sold_at, "
        "store_id, item_id, qty, unit_price, discount_amt, payment_method FROM retail.sales "
        "WHERE sold_at >= '2015-01-10' AND sold_at < '2015-01-11' AND store_id = 3",
    )
    same_sums = execute(
        pg,
        "UPDATE retail.sales SET payment_method = CASE payment_method WHEN 'CARD' THEN 'CASH' "
        "ELSE 'CARD' END WHERE sale_id = (SELECT min(sale_id) FROM retail.sales "
        "WHERE sold_at >= '2015-01-09' AND sold_at < '2015-01-10')",
    )
    deleted = execute(
        pg,
        "DELETE FROM retail.sales WHERE sale_id = (SELECT max(sale_id) FROM retail.sales "
        "WHERE sold_at >= '2015-01-11' AND sold_at < '2015-01-12')",
    )
    assert (cancelled, same_sums, deleted) == (1, 1, 1) and late > 0
    read.clear()
    caught = DailyBatch(spark, source_db, lake, database, lookback=LOOKBACK)
    caught.run(date(2015, 1, 12))

    assert sorted(read, key=str) == sorted(
        [
            [date(2015, 1, 10), date(2015, 1, 12)],  # balju: the cancellation
            [date(2015, 1, 9), date(2015, 1, 10), date(2015, 1, 11), date(2015, 1, 12)],  # sales
        ],
        key=str,
    )
    d2s = {(d.table, d.day): d for d in caught.runs[0].decisions + caught.runs[2].decisions}
    for table, day in [
        ("factdata_balju", date(2015, 1, 10)),
        ("factdata_sales", date(2015, 1, 9)),
        ("factdata_sales", date(2015, 1, 10)),
        ("factdata_sales", date(2015, 1, 11)),
    ]:
        decision = d2s[(table, day)]
        assert (decision.decision, decision.reason) == ("restated", "changed"), decision
        assert decision.before and decision.after and decision.before != decision.after
    assert_window_equals_source(spark, pg, database, date(2015, 1, 9), date(2015, 1, 12))
    # the sum-keeping update is in the published raw day
    (method,) = spark.sql(
        f"SELECT payment_method FROM {database}.factdata_sales WHERE sale_id = "
        "(SELECT min(sale_id) FROM "
        f"{database}.factdata_sales WHERE extract_date = '2015-01-09')"
    ).first()
    with pg.connect(database=DATABASE) as conn:
        (source_method,) = conn.execute(
            "SELECT payment_method FROM retail.sales WHERE sale_id = (SELECT min(sale_id) "
            "FROM retail.sales WHERE sold_at >= '2015-01-09' AND sold_at < '2015-01-10')"
        ).fetchone()
    assert method == source_method
    # the restated day's previous folder stays readable, as a rollback needs
    previous = [
        s.previous
        for s in caught.runs[1].switches
        if s.output.day == date(2015, 1, 10) and s.applied
    ]
    assert previous and previous[0] and lake.exists(previous[0])
    # history names the restated days and why
    shown = format_history([caught.runs[0].record()])
    assert "restated 2015-01-10 (changed)" in shown


def test_a_manual_rerun_of_a_raw_day_reaches_silver_at_the_next_s2s(  # type: ignore[no-untyped-def]
    spark, pg, source_db, lake, catalog, new_run
) -> None:
    seed_as_of(pg, None)
    day, night = date(2015, 1, 6), date(2015, 1, 8)
    for run, work in [
        (
            new_run("d2s"),
            lambda r: extract_days(spark, source_db, r, "balju", DayRange(day, night)),
        ),
        (new_run("s2s"), lambda r: build_dailybalju(r, DayRange(day, night))),
    ]:
        work(run)
        run.save()
    execute(
        pg,
        "UPDATE retail.balju SET status = 'CANCELLED' WHERE balju_id = (SELECT min(balju_id) "
        "FROM retail.balju WHERE balju_date = %s AND status = 'CONFIRMED')",
        (day,),
    )
    rerun = new_run("d2s")  # a person reruns the day
    extract_days(spark, source_db, rerun, "balju", DayRange.one(day))
    rerun.save()

    s2s = new_run("s2s")
    build_dailybalju(s2s, DayRange.one(night), window=[day, day + timedelta(days=1)])

    assert [(d.day, d.decision, d.reason) for d in s2s.decisions] == [
        (night, "asked", ""),
        (day, "restated", "raw republished"),
        (day + timedelta(days=1), "unchanged", ""),
    ]
    raw_run = run_of(catalog.day_locations(FACTDATA["balju"], [day])[day])
    assert s2s.built_from["silver_dailybalju"][day.isoformat()] == raw_run
    got = spark.read.parquet(catalog.day_locations(SILVER_DAILYBALJU, [day])[day])
    with pg.connect(database=DATABASE) as conn:
        (lines,) = conn.execute(
            "SELECT count(*) FROM retail.balju WHERE balju_date = %s "
            "AND status IS DISTINCT FROM 'CANCELLED'",
            (day,),
        ).fetchone()
    assert got.agg({"order_lines": "sum"}).first()[0] == lines


def test_in_place_days_are_restated_in_place(spark, pg, source_db, lake, catalog) -> None:  # type: ignore[no-untyped-def]
    """The crawler option: a restated day is rewritten in its folder; the pointer says by whom."""
    seed_as_of(pg, None)
    first, night = date(2015, 1, 6), date(2015, 1, 7)

    def run(job: str) -> Run:
        return Run(job, lake, catalog, in_place=True)

    made = run("d2s")
    extract_days(spark, source_db, made, "sales", DayRange.one(first))
    made.save()
    quiet = run("d2s")
    extract_days(spark, source_db, quiet, "sales", DayRange.one(night), window=[first])
    assert [(d.day, d.decision) for d in quiet.decisions] == [
        (night, "asked"),
        (first, "unchanged"),
    ]
    quiet.save()
    deleted = execute(
        pg,
        "DELETE FROM retail.sales WHERE sale_id IN (SELECT sale_id FROM retail.sales "
        "WHERE sold_at >= %s AND sold_at < %s ORDER BY sale_id LIMIT 5)",
        (first, night),
    )
    again = run("d2s")
    extract_days(spark, source_db, again, "sales", DayRange.one(night), window=[first])
    again.save()

    assert [(d.day, d.decision, d.reason) for d in again.decisions] == [
        (night, "asked", ""),
        (first, "restated", "changed"),
    ]
    folder = lake.partition_location(FACTDATA["sales"], first)
    with pg.connect(database=DATABASE) as conn:
        (rows,) = conn.execute(
            "SELECT count(*) FROM retail.sales WHERE sold_at >= %s AND sold_at < %s",
            (first, night),
        ).fetchone()
    assert deleted == 5 and spark.read.parquet(folder).count() == rows
    pointer = f"{lake.root}/_audit/days/factdata_sales/{first}.json"
    assert json.loads(lake.read_text(pointer)) == {"run_id": again.run_id}


@pytest.mark.parametrize("version", [130000, 150000])
def test_a_cancellation_changes_the_fingerprint_where_count_and_sums_do_not(  # type: ignore[no-untyped-def]
    pg, source_db, version
) -> None:
    """Both fingerprints (PostgreSQL 14 and later, and before) see a change that keeps the row
    count and every control sum of the day."""
    seed_as_of(pg, None)
    fact = source.FACT_TABLES["balju"]
    day = "balju_date = '2015-01-05'"
    query = (
        f"SELECT count(*), sum(order_qty), sum(order_qty * unit_cost), "
        f"{source.fingerprint_sql(version)} FROM {fact.name} t WHERE {day}"
    )
    with pg.connect(database=DATABASE) as conn:
        before = conn.execute(query).fetchone()
        conn.execute(
            "UPDATE retail.balju SET status = 'CANCELLED' WHERE balju_id = (SELECT min(balju_id) "
            f"FROM retail.balju WHERE {day} AND status = 'CONFIRMED')"
        )
        after = conn.execute(query).fetchone()
    assert before[:3] == after[:3] and before[3] != after[3]


def test_history_names_a_nights_restated_days_and_its_gaps() -> None:
    record = {
        "run_id": "20150107T010000000000Z-abcdef", "job": "jb_retail_factdata_d2s",
        "status": "published", "error": None, "seconds": 9.3, "gates": [],
        "rows": {"factdata_balju": {"2015-01-03": 399, "2015-01-04": 400, "2015-01-06": 400}},
        "days": ["2015-01-03", "2015-01-04", "2015-01-06"],
        "decisions": [
            {"table": "factdata_balju", "day": "2015-01-06", "decision": "asked"},
            {"table": "factdata_balju", "day": "2015-01-03", "decision": "restated",
             "reason": "changed", "fingerprint_before": "399:1", "fingerprint_after": "399:2"},
            {"table": "factdata_balju", "day": "2015-01-04", "decision": "restated",
             "reason": "never published"},
            {"table": "factdata_balju", "day": "2015-01-05", "decision": "unchanged"},
        ],
    }  # fmt: skip
    shown = format_history([record]).splitlines()
    assert shown[2].endswith("  2015-01-03..2015-01-06 (3 of 4 days)") and "1,199" in shown[2]
    assert shown[3] == "    restated 2015-01-03 (changed); 2015-01-04 (never published)"


def test_a_day_whose_publisher_left_no_record_is_restated(spark, pg, source_db, new_run) -> None:  # type: ignore[no-untyped-def]
    """A run killed after its publish and before its record (what a kill test found by hand):
    the day's fingerprint cannot be known, so the next look-back extracts it again."""
    seed_as_of(pg, None)
    day, night = date(2015, 1, 6), date(2015, 1, 7)
    extract_days(spark, source_db, new_run("d2s"), "sales", DayRange.one(day))  # no save()
    later = new_run("d2s")
    extract_days(spark, source_db, later, "sales", DayRange.one(night), window=[day])
    later.save()
    again = new_run("d2s")
    extract_days(spark, source_db, again, "sales", DayRange.one(night), window=[day])

    assert [(d.day, d.decision, d.reason) for d in later.decisions] == [
        (night, "asked", ""),
        (day, "restated", "fingerprint unknown"),
    ]
    assert [(d.day, d.decision) for d in again.decisions] == [(night, "asked"), (day, "unchanged")]
