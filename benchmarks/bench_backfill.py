"""A range in one run against one run per day: 31 days, as whole processes, side by side.

Usage (after `make seed`; `make bench-backfill` does both):
    .venv/bin/python benchmarks/bench_backfill.py --from 2015-01-01 --to 2015-01-31

The baseline is what a backfill was before ranges: `retail-etl run --date D` once per day, each
a process of its own (Spark start, both branches, four runs publishing one day). The candidate
is one `retail-etl run --from A --to B`. Both run against the same local PostgreSQL, each into a
scratch lake and catalog database of its own (the local catalog `hist_retail` is not touched),
in the order given by --order, and must publish the same rows per table and day. The report
gives each side's seconds and the ratio baseline / range.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from retail_etl.params import parse_day_range

REPO = Path(__file__).resolve().parents[1]


def run_batch(env: dict[str, str], *argv: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "retail_etl.local", "run", *argv],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"bench-backfill: `retail-etl run {' '.join(argv)}` failed:\n{done.stderr}")


def published_rows(lake: Path) -> Counter[tuple[str, str]]:
    """Rows per (table, day) of the last run of each job and day, from the run records."""
    latest: dict[tuple[str, str, str], int] = {}
    for path in sorted((lake / "_audit" / "runs").glob("*.json")):  # oldest first
        record = json.loads(path.read_text())
        for table, per_day in record["rows"].items():
            for day, rows in per_day.items():
                latest[(record["job"], table, day)] = rows
    return Counter({(table, day): rows for (_, table, day), rows in latest.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", default="2015-01-01")
    parser.add_argument("--to", dest="last", default="2015-01-31")
    parser.add_argument(
        "--order", choices=["range-first", "days-first"], default="range-first",
        help="which side runs first (the machine warms up; run both orders to see it)",
    )  # fmt: skip
    args = parser.parse_args()
    days = parse_day_range(None, args.first, args.last, ("date", "from", "to"))
    scratch = Path(tempfile.mkdtemp(prefix="bench-backfill-"))

    def env(name: str) -> dict[str, str]:
        return {
            **os.environ,
            "RETAIL_LAKE_ROOT": str(scratch / name / "lake"),
            "RETAIL_CATALOG_DATABASE": f"bench_backfill_{name}",
        }

    def one_range() -> float:
        started = time.perf_counter()
        run_batch(env("range"), "--from", str(days.first), "--to", str(days.last))
        return time.perf_counter() - started

    def day_by_day() -> float:
        started = time.perf_counter()
        for number, day in enumerate(days.days, 1):
            run_batch(env("days"), "--date", day.isoformat())
            print(f"  one day at a time: {number}/{len(days)} done", flush=True)
        return time.perf_counter() - started

    try:
        print(f"backfill of {len(days)} days ({days}), {os.cpu_count()} cores, {args.order}")
        sides = [("range", one_range), ("days", day_by_day)]
        if args.order == "days-first":
            sides.reverse()
        seconds = {}
        for name, side in sides:
            seconds[name] = side()
            print(f"  {name}: {seconds[name]:.1f} s", flush=True)
        same = published_rows(scratch / "range" / "lake") == published_rows(
            scratch / "days" / "lake"
        )
        print(
            f"one run per day: {seconds['days']:.1f} s; one range run: {seconds['range']:.1f} s; "
            f"ratio {seconds['days'] / seconds['range']:.1f}x; same rows per table and day: {same}"
        )
        if not same:
            sys.exit("bench-backfill: the two sides published different rows")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _drop_databases()


def _drop_databases() -> None:
    """The scratch catalog databases go with the scratch lakes."""
    drop = "; ".join(
        f"DROP DATABASE IF EXISTS bench_backfill_{n} CASCADE" for n in ("range", "days")
    )
    for statement in drop.split("; "):
        subprocess.run(
            [sys.executable, "-m", "retail_etl.local", "sql", statement],
            cwd=REPO,
            capture_output=True,
        )


if __name__ == "__main__":
    main()
