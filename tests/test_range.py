"""A range of days in one run: every day equals SQL on the source, as if each ran alone.

The range 2015-01-09 .. 2015-01-12 straddles the end of the seeded month (seeded: the 1st to the
10th) with a day added on the 12th, so the 11th is an empty day inside the range; the 11th was
published before with a row the source has since lost, so the range must remove it. The 8th and
the 13th, just outside, are published before and must be untouched.
"""

from __future__ import annotations

from datetime import date

import pytest
from conftest import sql_all, sql_one
from test_daily_batch import EXPECTED_SQL, catalog_rows

from retail_etl.catalogs import HiveCatalog, day_location
from retail_etl.flow import FLOW, FROM, LOOKBACK, TO, argv
from retail_etl.lake import FACTDATA, Lake, LakeTable
from retail_etl.local.runner import DailyBatch, format_summary
from retail_etl.params import DayRange

DATABASE = "range_test"
RANGE = DayRange(date(2015, 1, 9), date(2015, 1, 12))
EMPTY_DAY = date(2015, 1, 11)
OUTSIDE = (date(2015, 1, 8), date(2015, 1, 13))
ADDED_DAY_SQL = """
    INSERT INTO retail.sales
    SELECT sale_id + 8000000000000000, receipt_no || '-12', sold_at + interval '3 days', store_id,
           item_id, qty, unit_price, discount_amt, payment_method
    FROM retail.sales WHERE sold_at::date = '2015-01-09';
    INSERT INTO retail.balju
    SELECT balju_id + 8000000000000000, balju_date + 3, store_id, item_id, supplier_id, order_qty,
           unit_cost, status, created_at, updated_at
    FROM retail.balju WHERE balju_date = '2015-01-09';
"""
LOST_ROWS_SQL = """
    INSERT INTO retail.sales VALUES (8100000000000001, 'GONE', '2015-01-11 10:00', 1, 1, 1,
                                     1.00, 0.00, 'CARD');
    INSERT INTO retail.balju VALUES (8100000000000001, '2015-01-11', 1, 1, 1, 1, 1.00, 'ORDERED',
                                     '2015-01-10 10:00', '2015-01-10 10:00');
"""
CLEAN_UP_SQL = """
    DELETE FROM retail.sales WHERE sale_id BETWEEN 8000000000000000 AND 8999999999999999;
    DELETE FROM retail.balju WHERE balju_id BETWEEN 8000000000000000 AND 8999999999999999;
"""
RAW_COUNT_SQL = {
    "factdata_sales": "SELECT count(*) FROM retail.sales WHERE sold_at::date = %s",
    "factdata_balju": "SELECT count(*) FROM retail.balju WHERE balju_date = %s",
}


def execute(pg, sql: str) -> None:  # type: ignore[no-untyped-def]
    with pg.connect() as conn:
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)


@pytest.fixture(scope="module")
def ranged(spark, stack, seeded, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The lake after: the days outside and the soon-empty day published one by one, the
    source then changed, and the range run once."""
    lake = Lake(spark, str(tmp_path_factory.mktemp("range") / "lake"))
    spark.sql(f"DROP DATABASE IF EXISTS {DATABASE} CASCADE")
    execute(seeded, CLEAN_UP_SQL)
    try:
        execute(seeded, LOST_ROWS_SQL)
        for day in (*OUTSIDE, EMPTY_DAY):
            DailyBatch(spark, stack.source, lake, DATABASE).run(day)
        execute(seeded, CLEAN_UP_SQL)
        execute(seeded, ADDED_DAY_SQL)
        before = {t: _locations(spark, t, OUTSIDE) for t in (*EXPECTED_SQL, *RAW_COUNT_SQL)}
        assert _locations(spark, "factdata_sales", [EMPTY_DAY])  # published, with the lost row
        batch = DailyBatch(spark, stack.source, lake, DATABASE)
        results = batch.run(RANGE)
        yield lake, batch, results, before
    finally:
        execute(seeded, CLEAN_UP_SQL)


def _locations(spark, table: str, days) -> dict[date, str]:  # type: ignore[no-untyped-def]
    catalog = HiveCatalog(spark, DATABASE)
    return catalog.day_locations(LakeTable(table, ""), list(days))


@pytest.mark.parametrize("table", sorted(EXPECTED_SQL))
def test_every_day_of_the_range_equals_sql_on_the_source(spark, seeded, ranged, table) -> None:  # type: ignore[no-untyped-def]
    for day in RANGE.days:
        expected = sql_all(seeded, EXPECTED_SQL[table], (day,))
        assert catalog_rows(spark, DATABASE, table, day) == expected, day
        assert (len(expected) == 0) == (day == EMPTY_DAY), day


def test_raw_counts_per_day_equal_the_source_and_the_summary(spark, seeded, ranged) -> None:  # type: ignore[no-untyped-def]
    _, _, results, _ = ranged
    by_step = {r.step: r for r in results}
    for table, count_sql in RAW_COUNT_SQL.items():
        step = by_step[f"d2s:{table.removeprefix('factdata_')}"]
        for day in RANGE.days:
            (expected,) = sql_one(seeded, count_sql, (day,))
            found = spark.sql(
                f"SELECT count(*) FROM {DATABASE}.{table} WHERE extract_date = '{day}'"
            ).first()
            assert found is not None and found[0] == expected == step.rows_by_day[day], day
    summary = format_summary(results, RANGE, 1.0)
    assert "rows per day" in summary and "2015-01-11" in summary and "2015-01-12" in summary


def test_the_empty_day_lost_its_partition_and_the_days_outside_are_untouched(  # type: ignore[no-untyped-def]
    spark, ranged
) -> None:
    _, _, _, before = ranged
    for table in (*EXPECTED_SQL, *RAW_COUNT_SQL):
        assert _locations(spark, table, [EMPTY_DAY]) == {}, table
        assert _locations(spark, table, OUTSIDE) == before[table], table
        assert set(before[table]) == {OUTSIDE[0]}, table  # the 13th has no source rows at all


def test_each_step_is_one_run_with_the_range_and_the_flows_arguments(ranged) -> None:  # type: ignore[no-untyped-def]
    _, batch, _, _ = ranged
    days = [FROM, RANGE.first.isoformat(), TO, RANGE.last.isoformat(), LOOKBACK, "0"]
    expected = [
        (step.job.name, [*[t for pair in step.fixed for t in pair], *days])
        for branch in FLOW
        for step in branch.steps
    ]
    assert batch.started == expected
    assert [run.days for run in batch.runs] == [RANGE.days] * 4


def test_a_range_rerun_is_identical(spark, stack, ranged) -> None:  # type: ignore[no-untyped-def]
    lake, _, _, _ = ranged
    tables = (*EXPECTED_SQL, *RAW_COUNT_SQL)

    def contents() -> dict[str, list[tuple]]:  # type: ignore[type-arg]
        found = {}
        for table in tables:
            for day in RANGE.days:
                rows = catalog_rows(spark, DATABASE, table, day)
                if table.startswith("factdata"):  # each run stamps its own _extracted_at
                    rows = sorted(r[:-1] for r in rows)
                found[f"{table} {day}"] = rows
        return found

    before = contents()
    first = _locations(spark, "silver_dailysales_store", RANGE.days)

    DailyBatch(spark, stack.source, lake, DATABASE).run(RANGE)

    assert contents() == before
    assert _locations(spark, "silver_dailysales_store", RANGE.days).keys() == first.keys()
    assert _locations(spark, "silver_dailysales_store", RANGE.days) != first  # a new run's
    assert day_location(HiveCatalog(spark, DATABASE), FACTDATA["sales"], EMPTY_DAY) is None


def test_the_state_machine_starts_the_same_jobs_with_the_same_arguments(  # type: ignore[no-untyped-def]
    ranged, aws_env, monkeypatch
) -> None:
    from test_statemachine import _flow

    _, batch, _, _ = ranged
    machines = _flow(False, monkeypatch)
    machine = next(machines)  # the default state machine, executed in moto
    try:
        result = machine.run(
            given={"EXTRACT_DATE_FROM": str(RANGE.first), "EXTRACT_DATE_TO": str(RANGE.last)}
        )
    finally:
        machines.close()
    assert result["status"] == "SUCCEEDED", result
    in_aws = [(p["JobName"], argv(p["Arguments"])) for p in result["scheduled"]]
    assert sorted(in_aws) == sorted(batch.started)
