"""d2s throughput: the parallel JDBC read against a single-connection read, side by side.

Usage (after `make seed` or `retail-etl seed --sales-per-day 1000000 ...` for a bigger day):
    .venv/bin/python benchmarks/bench_d2s.py --date 2015-01-05 --rounds 3

Both variants run in this one process, alternating, each writing to its own scratch lake;
the report gives rows per second and the ratio parallel / single, per round and median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

from retail_etl.audit import Run
from retail_etl.catalogs import HiveCatalog
from retail_etl.lake import Lake
from retail_etl.params import DayRange, parse_extract_date
from retail_etl.runtime import local_spark
from retail_etl.settings import LocalEnvironment
from retail_etl.steps import extract_days

MAX_CONNECTIONS = 8


def timed_extract(spark, stack, target, day, max_connections: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    scratch = tempfile.mkdtemp(prefix="bench-lake-")
    run = Run("bench_d2s", Lake(spark, scratch), HiveCatalog(spark, "bench_d2s"))
    try:
        started = time.perf_counter()
        result = extract_days(spark, stack.source, run, target, DayRange.one(day), max_connections)
        return result.rows_out, time.perf_counter() - started
    finally:
        spark.sql("DROP DATABASE IF EXISTS bench_d2s CASCADE")
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default="2015-01-05")
    parser.add_argument("--target", default="sales", choices=["balju", "sales"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    day = parse_extract_date(args.date)
    stack = LocalEnvironment.from_environ(os.environ)
    spark = local_spark(stack, "bench-d2s")
    timed_extract(spark, stack, args.target, day, 1)  # warm-up: JVM, driver, PostgreSQL cache

    ratios = []
    print(f"{'round':>5} {'rows':>10} {'single rows/s':>14} {'parallel rows/s':>16} {'ratio':>6}")
    for number in range(1, args.rounds + 1):
        rows, single = timed_extract(spark, stack, args.target, day, 1)
        _, parallel = timed_extract(spark, stack, args.target, day, MAX_CONNECTIONS)
        ratios.append(single / parallel)
        print(
            f"{number:>5} {rows:>10,} {rows / single:>14,.0f} {rows / parallel:>16,.0f} "
            f"{single / parallel:>6.2f}"
        )
    print(
        f"median ratio parallel/single: {statistics.median(ratios):.2f} (cores: {os.cpu_count()})"
    )
    spark.stop()


if __name__ == "__main__":
    main()
