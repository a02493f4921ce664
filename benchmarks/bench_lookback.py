"""What a look-back costs and what it buys, measured side by side in one process.

Usage (`make bench-lookback`, after `make seed`; each part alone with --part):
    .venv/bin/python benchmarks/bench_lookback.py [--part sample|fingerprint|nights]
        [--sizes 1000000,10000000] [--nights 31] [--rounds 3]

- sample: the sample month as the schedule sees it (each day extracted at 01:00 Seoul the next
  morning, `seed --as-of`): how much of it changes after its night, and, for each look-back N,
  how many days stay different from the final source for good. What a look-back must cover.
- fingerprint: what a night reads before any row, the day's extent (counts, sums, keys and
  fingerprint, one grouped query), and what a look-back adds, the fingerprints of a 3-day and a
  7-day window (a count and a hash per row), against extracting the day (`extract_days`:
  Spark's JDBC read, write, gates and publish), at each size of sales lines a day; ratios to
  the extraction, medians of `--rounds`, and the plan PostgreSQL chose for the window.
- nights: a month of nights (the whole batch, both branches) on the moving source, each night
  run without a look-back and with one of 3, alternating which goes first; seconds per night,
  the ratio, and how far each lake's published order amount is from the source at the end.

Everything runs against databases of its own in the local PostgreSQL (`bench_lookback_*`),
dropped at the end; the sample source (`retail`) is left alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from scratch import Scratch

from retail_etl import source
from retail_etl.audit import Run
from retail_etl.catalogs import HiveCatalog
from retail_etl.lake import Lake
from retail_etl.local import sample
from retail_etl.local.postgres import LocalPostgres
from retail_etl.local.runner import DailyBatch
from retail_etl.params import DayRange
from retail_etl.runtime import local_spark
from retail_etl.settings import LocalEnvironment
from retail_etl.steps import extract_days

MONTH = sample.SampleSpec()  # the sample: January 2015, 3,000 sales lines and 400 orders a day
LOOKBACK = 3


def night_of(day: date) -> datetime:
    """When the schedule extracts `day`: 01:00 in Seoul the next morning."""
    return datetime(day.year, day.month, day.day) + timedelta(days=1, hours=1)


def fingerprints(db: Scratch) -> dict[tuple[str, date], str]:
    """(table, day) -> fingerprint, as the d2s takes it, for every day of the source."""
    found = {}
    for target, fact in source.FACT_TABLES.items():
        day_of = fact.day_of_row
        for day, rows, hashed in db.rows(
            f"SELECT {day_of}::date, count(*), {source.FINGERPRINT_SQL} FROM {fact.name} t "
            "GROUP BY 1"
        ):
            found[(target, day)] = f"{rows}:{hashed}"
    return found


def part_sample(pg: LocalPostgres, stack: LocalEnvironment) -> None:
    db = Scratch(pg, stack, "bench_lookback_sample")
    try:
        db.seed(MONTH)  # the final state
        ((orders, changed, cancelled, latest),) = db.rows(
            """SELECT count(*),
                      count(*) FILTER (WHERE updated_at > balju_date + interval '25 hours'),
                      count(*) FILTER (WHERE status = 'CANCELLED'
                                       AND updated_at > balju_date + interval '25 hours'),
                      max(updated_at - balju_date)
               FROM retail.balju"""
        )
        print(
            f"sample month: {changed:,} of {orders:,} orders ({changed / orders:.1%}) change "
            f"after their night, {cancelled:,} ({cancelled / orders:.1%}) are cancelled after "
            f"it; the last change comes {latest.total_seconds() / 3600:.1f} hours after its day "
            "began"
        )
        final = fingerprints(db)
        nights = MONTH.dates()
        seen: dict[date, dict[tuple[str, date], str]] = {}
        for night in nights:
            db.seed(sample.SampleSpec(**{**MONTH.__dict__, "as_of": night_of(night)}))
            seen[night] = fingerprints(db)
        last = nights[-1]
        print(f"\n{'look-back':>9} {'restated days a night':>22} {'days wrong for good':>20}")
        for lookback in range(5):
            restated = wrong = judged = 0
            for night in nights[1:]:
                for n in range(1, lookback + 1):
                    for target in source.FACT_TABLES:
                        day = night - timedelta(days=n)
                        before = seen.get(night - timedelta(days=1), {}).get((target, day))
                        if day >= nights[0] and seen[night].get((target, day)) != before:
                            restated += 1
            for day in nights:
                settled = min(day + timedelta(days=lookback), last)
                if day + timedelta(days=lookback) > last:
                    continue  # its window is still open at the month's end
                for target in source.FACT_TABLES:
                    judged += 1
                    wrong += seen[settled].get((target, day)) != final.get((target, day))
            print(f"{lookback:>9} {restated / (len(nights) - 1):>22.1f} {wrong:>12} of {judged:<5}")
    finally:
        db.drop()


def median_seconds(action: Callable[[], Any], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _fingerprint_actions(
    spark: Any, db: Scratch, fact: source.FactTable, day: date
) -> tuple[Callable[[], None], Callable[[int], Callable[[], Any]]]:
    """Extracting `day` (whole, as a night does), and the extent query with a window."""

    def extract() -> None:
        scratch = tempfile.mkdtemp(prefix="bench-lookback-")
        run = Run("bench_lookback", Lake(spark, scratch), HiveCatalog(spark, "bench_lb"))
        try:
            extract_days(spark, db.source, run, "sales", DayRange.one(day))
        finally:
            spark.sql("DROP DATABASE IF EXISTS bench_lb CASCADE")
            shutil.rmtree(scratch, ignore_errors=True)

    def extent(window: int) -> Callable[[], Any]:
        """The day's extent (what every night reads), or the fingerprints of the `window`
        days before it (what a look-back adds), in a snapshot of their own."""

        def query() -> Any:
            with source.SourceSnapshot(spark, db.source) as snapshot:
                if not window:
                    return source.range_extent(snapshot, fact, day, day)
                before = [day - timedelta(days=n) for n in range(window, 0, -1)]
                return source.day_fingerprints(snapshot, fact, before)

        return query

    return extract, extent


def part_fingerprint(
    pg: LocalPostgres, stack: LocalEnvironment, sizes: list[int], rounds: int
) -> None:
    spark = local_spark(stack, "bench-lookback")
    fact = source.FACT_TABLES["sales"]
    day = date(2015, 1, 8)
    print(
        f"\n{'lines a day':>12} {'extract the day':>16} {'its extent':>14} "
        f"{'3-day window':>14} {'7-day window':>14}   (seconds, medians; ratio to extract)"
    )
    for size in sizes:
        db = Scratch(pg, stack, "bench_lookback_fingerprint")
        try:
            started = time.perf_counter()
            db.seed(sample.SampleSpec(start=date(2015, 1, 1), days=8, sales_per_day=size,
                                      balju_per_day=100, stores=200, items=5000))  # fmt: skip
            print(f"  seeded 8 days of {size:,} lines in {time.perf_counter() - started:.0f} s")

            extract, extent = _fingerprint_actions(spark, db, fact, day)
            extract()  # warm-up: JVM, driver, the day in PostgreSQL's cache
            extent(7)()
            timings = [
                median_seconds(extract, rounds),
                *[median_seconds(extent(w), rounds) for w in (0, 3, 7)],
            ]
            base = timings[0]
            print(
                f"{size:>12,} {base:>16.2f} "
                + " ".join(f"{t:>7.2f} {t / base:>5.2f}x" for t in timings[1:])
            )
            hashed = source.FINGERPRINT_SQL
            plan = db.rows(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
                + " UNION ALL ".join(
                    f"SELECT '{d}', count(*), {hashed} FROM {fact.name} t "
                    f"WHERE {fact.day_filter(d)}"
                    for d in (day - timedelta(days=n) for n in (3, 2, 1))
                )
            )
            print("  the 3-day window's plan:\n" + "\n".join(f"    {r[0]}" for r in plan))
        finally:
            db.drop()
    spark.stop()


def part_nights(pg: LocalPostgres, stack: LocalEnvironment, nights: int) -> None:
    spark = local_spark(stack, "bench-lookback-nights")
    db = Scratch(pg, stack, "bench_lookback_nights")
    scratch = tempfile.mkdtemp(prefix="bench-lookback-nights-")
    lakes = {n: (Lake(spark, f"{scratch}/lake{n}"), f"bench_lb_nights_{n}") for n in (0, LOOKBACK)}
    for _, database in lakes.values():
        spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    seconds: dict[int, list[float]] = {n: [] for n in lakes}
    print(
        f"\n{'night':<10} {'no look-back (s)':>17} {f'look-back {LOOKBACK} (s)':>17} {'ratio':>6}"
    )
    try:
        for number, night in enumerate(MONTH.dates()[:nights]):
            db.seed(sample.SampleSpec(**{**MONTH.__dict__, "as_of": night_of(night)}))
            order = list(lakes) if number % 2 == 0 else list(reversed(lakes))
            for lookback in order:
                lake, database = lakes[lookback]
                started = time.perf_counter()
                DailyBatch(spark, db.source, lake, database, lookback=lookback).run(night)
                seconds[lookback].append(time.perf_counter() - started)
            plain, looked = seconds[0][-1], seconds[LOOKBACK][-1]
            print(f"{night!s:<10} {plain:>17.1f} {looked:>17.1f} {looked / plain:>6.2f}")
        total = {n: sum(s) for n, s in seconds.items()}
        print(
            f"{'total':<10} {total[0]:>17.1f} {total[LOOKBACK]:>17.1f} "
            f"{total[LOOKBACK] / total[0]:>6.2f}"
        )
        # nights with nothing to restate: the last night again, the source unchanged
        quiet: dict[int, list[float]] = {n: [] for n in lakes}
        last = MONTH.dates()[:nights][-1]
        for number in range(3):
            for lookback in list(lakes) if number % 2 == 0 else list(reversed(lakes)):
                lake, database = lakes[lookback]
                started = time.perf_counter()
                DailyBatch(spark, db.source, lake, database, lookback=lookback).run(last)
                quiet[lookback].append(time.perf_counter() - started)
        calm = {n: statistics.median(q) for n, q in quiet.items()}
        print(
            f"{'quiet':<10} {calm[0]:>17.1f} {calm[LOOKBACK]:>17.1f} "
            f"{calm[LOOKBACK] / calm[0]:>6.2f}   (the last night again, nothing changed; "
            "medians of 3)"
        )
        ((expected,),) = db.rows(
            "SELECT sum(order_qty * unit_cost) FROM retail.balju "
            "WHERE status IS DISTINCT FROM 'CANCELLED'"
        )
        for lookback, (_, database) in lakes.items():
            (found,) = spark.sql(
                f"SELECT sum(order_amount) FROM {database}.silver_dailybalju"
            ).first()
            print(
                f"look-back {lookback}: the month's published order amount {found:,} against "
                f"the source's {expected:,} ({(found - expected) / expected:+.2%})"
            )
    finally:
        for _, database in lakes.values():
            spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
        shutil.rmtree(scratch, ignore_errors=True)
        db.drop()
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["sample", "fingerprint", "nights"])
    parser.add_argument("--sizes", default="1000000,10000000", help="sales lines a day")
    parser.add_argument("--nights", type=int, default=31)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stack = LocalEnvironment.from_environ(os.environ)
    s = stack.source
    pg = LocalPostgres(stack.pg_data, s.port, s.user, s.database, s.host)
    if args.part in (None, "sample"):
        part_sample(pg, stack)
    if args.part in (None, "fingerprint"):
        part_fingerprint(pg, stack, [int(n) for n in args.sizes.split(",")], args.rounds)
    if args.part in (None, "nights"):
        part_nights(pg, stack, args.nights)


if __name__ == "__main__":
    main()
