"""The sample source: deterministic for a seed, and shaped like a shop."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from conftest import SEEDED_DAYS, sql_all, sql_one

from retail_etl.local import sample

CHECKSUM_SQL = """
SELECT (SELECT md5(string_agg(s::text, ',' ORDER BY sale_id)) FROM retail.sales s),
       (SELECT md5(string_agg(b::text, ',' ORDER BY balju_id)) FROM retail.balju b),
       (SELECT md5(string_agg(i::text, ',' ORDER BY item_id)) FROM retail.items i)
"""


@pytest.fixture(scope="module")
def scratch_db(pg):  # type: ignore[no-untyped-def]
    with pg.connect("postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS sample_check")
        conn.execute("CREATE DATABASE sample_check")
    return pg


def seed_and_checksum(pg, seed: int) -> tuple:  # type: ignore[no-untyped-def]
    spec = sample.SampleSpec(
        start=date(2015, 1, 1), days=2, sales_per_day=300, balju_per_day=50, seed=seed
    )
    with pg.connect("sample_check") as conn:
        counts = sample.seed(conn, spec)
        # the lines asked for, less the few deleted after their day (about 1 in 500)
        assert 590 <= counts["sales"] <= 600 and 97 <= counts["balju"] <= 100, counts
        return tuple(conn.execute(CHECKSUM_SQL).fetchone())


def test_same_seed_same_rows_other_seed_other_rows(scratch_db) -> None:  # type: ignore[no-untyped-def]
    first = seed_and_checksum(scratch_db, seed=1)
    assert seed_and_checksum(scratch_db, seed=1) == first
    assert seed_and_checksum(scratch_db, seed=2) != first


def test_every_day_has_the_lines_asked_for_less_the_few_deleted(seeded) -> None:  # type: ignore[no-untyped-def]
    per_day = sql_all(
        seeded,
        "SELECT sold_at::date, count(*) FROM retail.sales WHERE receipt_no NOT LIKE 'EDGE-%%' "
        "GROUP BY 1",
    )
    assert len(per_day) == SEEDED_DAYS and all(780 <= n <= 800 for _, n in per_day), per_day
    assert 1 <= sum(800 - n for _, n in per_day) <= 50  # 1 in 500 of 8,000 lines: about 16


def test_sales_look_like_a_shop(seeded) -> None:  # type: ignore[no-untyped-def]
    multi_line, returns, discounted, no_payment, lunch, small_hours = sql_one(
        seeded,
        """
        SELECT (SELECT count(*) FROM (SELECT receipt_no FROM retail.sales GROUP BY 1
                                      HAVING count(*) > 1) r),
               count(*) FILTER (WHERE qty < 0),
               count(*) FILTER (WHERE discount_amt > 0),
               count(*) FILTER (WHERE payment_method IS NULL),
               count(*) FILTER (WHERE extract(hour FROM sold_at) = 12),
               count(*) FILTER (WHERE extract(hour FROM sold_at) BETWEEN 1 AND 5)
        FROM retail.sales
        """,
    )
    assert multi_line > 100 and returns > 0 and discounted > 0 and no_payment > 0
    assert lunch > 10 * max(small_hours, 1)


def test_purchase_orders_are_cancelled_and_updated(seeded) -> None:  # type: ignore[no-untyped-def]
    statuses = dict(sql_all(seeded, "SELECT status, count(*) FROM retail.balju GROUP BY 1"))
    assert statuses.keys() >= {"ORDERED", "CONFIRMED", "CANCELLED"}
    updated = sql_one(seeded, "SELECT count(*) FROM retail.balju WHERE updated_at > created_at")[0]
    assert updated > 0


# --as-of: the source as it stood at a moment, against the final state kept aside.
AS_OF_SPEC = sample.SampleSpec(
    start=date(2015, 1, 1), days=12, sales_per_day=500, balju_per_day=80, stores=25, seed=5
)
DAY = date(2015, 1, 6)


def seed_as_of(pg, moment: datetime | None) -> None:  # type: ignore[no-untyped-def]
    with pg.connect("sample_check") as conn:
        sample.seed(conn, sample.SampleSpec(**{**AS_OF_SPEC.__dict__, "as_of": moment}))


def in_scratch(pg, query: str, params: tuple = ()) -> list[tuple]:  # type: ignore[no-untyped-def]
    with pg.connect("sample_check") as conn:
        return [tuple(r) for r in conn.execute(query, params).fetchall()]


@pytest.fixture(scope="module")
def final_state(scratch_db):  # type: ignore[no-untyped-def]
    """The final state, copied aside (public.final_*) before each as-of seed replaces it."""
    seed_as_of(scratch_db, None)
    with scratch_db.connect("sample_check") as conn:
        conn.execute("DROP TABLE IF EXISTS public.final_sales, public.final_balju")
        conn.execute("CREATE TABLE public.final_sales AS SELECT * FROM retail.sales")
        conn.execute("CREATE TABLE public.final_balju AS SELECT * FROM retail.balju")
    return scratch_db


def test_as_of_orders_are_those_placed_by_then_in_the_state_they_had(final_state) -> None:  # type: ignore[no-untyped-def]
    moment = datetime(2015, 1, 7, 1, 0)  # the schedule's night of the 6th
    seed_as_of(final_state, moment)
    assert in_scratch(final_state, "SELECT count(*) FROM retail.balju WHERE created_at > %s "
                      "OR updated_at > %s", (moment, moment)) == [(0,)]  # fmt: skip
    # every final order placed by then is there, as it was then (deletions only take rows)
    (missing, wrong) = in_scratch(
        final_state,
        """SELECT count(*) FILTER (WHERE b.balju_id IS NULL),
                  count(*) FILTER (WHERE b.balju_id IS NOT NULL AND (b.status, b.updated_at)
                      IS DISTINCT FROM (CASE WHEN f.updated_at <= %(t)s THEN f.status
                                             ELSE 'ORDERED' END,
                                        CASE WHEN f.updated_at <= %(t)s THEN f.updated_at
                                             ELSE f.created_at END))
           FROM public.final_balju f LEFT JOIN retail.balju b USING (balju_id)
           WHERE f.created_at <= %(t)s""",
        {"t": moment},  # type: ignore[arg-type]
    )[0]
    assert (missing, wrong) == (0, 0)
    (later,) = in_scratch(
        final_state,
        "SELECT count(*) FROM public.final_balju WHERE balju_date = %s AND updated_at > %s",
        (DAY, moment),
    )[0]
    assert later > 5  # the night of the 6th saw orders that changed after it


def test_a_few_store_days_arrive_late_and_a_few_rows_are_deleted(final_state) -> None:  # type: ignore[no-untyped-def]
    days = AS_OF_SPEC.dates()[:8]
    late_store_days = deleted = lines = 0
    for day in days:
        seed_as_of(final_state, datetime(day.year, day.month, day.day) + timedelta(hours=24.5))
        # just after the day ended: none deleted yet, the late tills not yet arrived
        (missing_stores, extra_rows, day_lines) = in_scratch(
            final_state,
            """SELECT (SELECT count(DISTINCT store_id) FROM public.final_sales f
                       WHERE f.sold_at::date = %(d)s AND NOT EXISTS (SELECT 1 FROM retail.sales s
                           WHERE s.sold_at::date = %(d)s AND s.store_id = f.store_id)),
                      (SELECT count(*) FROM retail.sales s WHERE s.sold_at::date = %(d)s
                       AND NOT EXISTS (SELECT 1 FROM public.final_sales f
                                       WHERE f.sale_id = s.sale_id)),
                      (SELECT count(*) FROM public.final_sales WHERE sold_at::date = %(d)s)""",
            {"d": day},  # type: ignore[arg-type]
        )[0]
        late_store_days += missing_stores
        deleted += extra_rows
        lines += day_lines
    store_days = len(days) * AS_OF_SPEC.stores
    assert 1 <= late_store_days <= store_days * 0.06, late_store_days  # about 1 in 50
    assert 1 <= deleted <= lines * 0.006, (deleted, lines)  # about 1 in 500


def test_three_days_after_a_day_ends_it_is_final_and_the_same_every_time(final_state) -> None:  # type: ignore[no-untyped-def]
    settled = datetime(DAY.year, DAY.month, DAY.day) + timedelta(days=4)
    day_sum = (
        "SELECT md5(string_agg(s::text, ',' ORDER BY sale_id)) FROM {} s WHERE sold_at::date = %s"
    )
    seed_as_of(final_state, settled)
    once = in_scratch(final_state, day_sum.format("retail.sales"), (DAY,))
    seed_as_of(final_state, settled)
    assert in_scratch(final_state, day_sum.format("retail.sales"), (DAY,)) == once
    assert in_scratch(final_state, day_sum.format("public.final_sales"), (DAY,)) == once
