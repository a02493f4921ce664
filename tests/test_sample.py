"""The sample source: deterministic for a seed, and shaped like a shop."""

from __future__ import annotations

from datetime import date

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
        assert (counts["sales"], counts["balju"]) == (600, 100)
        return tuple(conn.execute(CHECKSUM_SQL).fetchone())


def test_same_seed_same_rows_other_seed_other_rows(scratch_db) -> None:  # type: ignore[no-untyped-def]
    first = seed_and_checksum(scratch_db, seed=1)
    assert seed_and_checksum(scratch_db, seed=1) == first
    assert seed_and_checksum(scratch_db, seed=2) != first


def test_every_day_has_exactly_the_lines_asked_for(seeded) -> None:  # type: ignore[no-untyped-def]
    per_day = sql_all(
        seeded,
        "SELECT sold_at::date, count(*) FROM retail.sales WHERE receipt_no NOT LIKE 'EDGE-%%' "
        "GROUP BY 1",
    )
    assert len(per_day) == SEEDED_DAYS and {n for _, n in per_day} == {800}


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
