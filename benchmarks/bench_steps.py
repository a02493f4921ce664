"""Where a day's time goes: each job as a whole process, phase by phase, beside its peers.

Usage (`make bench-steps`, after `make seed`):
    .venv/bin/python benchmarks/bench_steps.py [--sizes 1000000,10000000] [--rounds 3]
        [--baseline 1a9e956] [--no-stages]

For each size (sales lines in one day, 2015-01-05, in a database of the benchmark's own):
- d2s: `jobs/jb_retail_factdata_d2s.py --TARGET_DATA sales` as a process of its own, beside a
  plain Python reader of the same day, connectorx into Arrow and then one Parquet file, and the
  floor, PostgreSQL's binary `COPY` of the day read by psycopg and thrown away;
- s2s: `jobs/jb_retail_silver_dailysales_s2s.py` over the day the d2s published, beside DuckDB
  computing the same three tables from the same raw files into Parquet;
- this checkout's jobs again with the local JVM's class archive off
  (RETAIL_SPARK_CLASS_ARCHIVE=off), and again with the JVM's own JIT settings in place of a
  short run's (RETAIL_SPARK_JIT=jvm), to show what each saves apart from the rest;
- both jobs as they were before the trust work (commit `--baseline`, from this clone's history,
  into a lake of their own, without the archive, which it did not have).
Every side is a whole process (Python, imports, Spark or not), run in turns, medians of
`--rounds`. The job's own record says how long each phase took (`Run.phase`: start, prepare,
snapshot, write, read back, publish ...); "other" is the rest: the interpreter, imports, the
record's write and the exit. Then one more run of each job with Spark's event log on,
summarised by phase: Spark jobs, stages, the seconds its stages ran and the tasks' GC time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from scratch import Scratch

from retail_etl.local import sample
from retail_etl.local.postgres import LocalPostgres
from retail_etl.settings import LocalEnvironment

REPO = Path(__file__).resolve().parents[1]
DAY = date(2015, 1, 5)
DATABASE = "bench_steps"
BEFORE_TRUST = "1a9e956"  # the commit before "Trustworthy days, part 1" (3d47dd6)
D2S = "jb_retail_factdata_d2s"
SALES_S2S = "jb_retail_silver_dailysales_s2s"
DAY_QUERY = (
    "SELECT t.*, to_char(CAST(sold_at AS date), 'YYYY-MM-DD') AS extract_date "
    f"FROM retail.sales t WHERE sold_at >= DATE '{DAY}' AND sold_at < DATE '{DAY}' + 1"
)

# The peers, each a process of its own; argv[1:]: the database URL or the raw folder, then
# where to write.
CONNECTORX = """
import sys, connectorx, pyarrow.parquet
table = connectorx.read_sql(sys.argv[1], sys.argv[3], return_type="arrow",
                            partition_on="sale_id", partition_num=int(sys.argv[4]))
pyarrow.parquet.write_table(table, sys.argv[2], compression="snappy")
print(table.num_rows)
"""
COPY = """
import sys, psycopg
rows = 0
with psycopg.connect(sys.argv[1]) as conn, conn.cursor() as cur:
    with cur.copy(f"COPY ({sys.argv[3]}) TO STDOUT (FORMAT binary)") as copy:
        for block in copy:
            rows += 1
print(rows)
"""
# The silver definitions of DESIGN.md, as DuckDB SQL (the project's are Spark's, transforms.py).
DUCKDB = """
import sys, duckdb
con = duckdb.connect()
con.execute(f"CREATE VIEW sales AS SELECT * FROM read_parquet('{sys.argv[1]}/*.parquet')")
net = "sum(qty * unit_price) - coalesce(sum(discount_amt), 0)"
tables = {
    "item": f'''SELECT store_id, item_id, sum(qty) AS sales_qty,
        sum(CASE WHEN qty < 0 THEN -qty ELSE 0 END) AS return_qty,
        sum(qty * unit_price) AS gross_amount, coalesce(sum(discount_amt), 0) AS discount_amount,
        {net} AS net_amount, count(DISTINCT receipt_no) AS receipt_count
        FROM sales GROUP BY store_id, item_id''',
    "store": f'''SELECT store_id, sum(qty) AS sales_qty, sum(qty * unit_price) AS gross_amount,
        coalesce(sum(discount_amt), 0) AS discount_amount, {net} AS net_amount,
        count(DISTINCT receipt_no) AS receipt_count,
        round(({net}) / count(DISTINCT receipt_no), 2) AS avg_receipt_amount
        FROM sales GROUP BY store_id''',
    "hourly": f'''SELECT store_id, hour(sold_at) AS sale_hour, sum(qty) AS sales_qty,
        {net} AS net_amount, count(DISTINCT receipt_no) AS receipt_count
        FROM sales GROUP BY store_id, hour(sold_at)''',
}
counts = []
for name, sql in tables.items():
    con.execute(f"COPY ({sql}) TO '{sys.argv[2]}/{name}.parquet' (FORMAT parquet)")
    counts.append(con.execute(f"SELECT count(*) FROM '{sys.argv[2]}/{name}.parquet'").fetchone()[0])
print(",".join(map(str, counts)))
"""


class Sides:
    """The processes compared: the jobs (this checkout's and the baseline's) and the peers."""

    def __init__(self, scratch: Path, db: Scratch, baseline: Path | None) -> None:
        self.scratch, self.db, self.baseline = scratch, db, baseline
        s = db.source
        login = f"{s.user}:{s.password}" if s.password else s.user
        self.url = f"postgresql://{login}@{s.host}:{s.port}/{s.database}"

    def env(self, side: str, event_log: Path | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "RETAIL_PG_DATABASE": self.db.name,
            "RETAIL_ETL_HOME": str(self.scratch / side / "home"),
            "RETAIL_LAKE_ROOT": str(self.scratch / side / "lake"),
            "RETAIL_CATALOG_DATABASE": DATABASE,
        }
        if side == "before":
            assert self.baseline is not None
            env["PYTHONPATH"] = str(self.baseline)
        if side in ("before", "no-archive"):
            env["RETAIL_SPARK_CLASS_ARCHIVE"] = "off"
        if side == "jvm-jit":
            env["RETAIL_SPARK_JIT"] = "jvm"
        if event_log is not None:
            event_log.mkdir(parents=True, exist_ok=True)
            env["PYSPARK_SUBMIT_ARGS"] = (
                f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{event_log} "
                "pyspark-shell"
            )
        return env

    def job(self, side: str, job: str, event_log: Path | None = None) -> float:
        args = ["--EXTRACT_DATE", DAY.isoformat()]
        if job == D2S:
            args = ["--TARGET_DATA", "sales", *args]
        root = self.baseline if side == "before" else REPO
        assert root is not None
        return timed([sys.executable, str(root / "jobs" / f"{job}.py"), *args],
                     self.env(side, event_log), root)  # fmt: skip

    def record(self, side: str, job: str) -> dict[str, Any]:
        """The newest run record of `job` in `side`'s lake."""
        runs = sorted((self.scratch / side / "lake" / "_audit" / "runs").glob(f"*.{job}.json"))
        return dict(json.loads(runs[-1].read_text()))

    def connectorx(self, partitions: int) -> float:
        out = self.scratch / "peers" / "connectorx.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        return timed([sys.executable, "-c", CONNECTORX, self.url, str(out), DAY_QUERY,
                      str(partitions)], dict(os.environ), REPO)  # fmt: skip

    def copy(self) -> float:
        return timed([sys.executable, "-c", COPY, self.url, "-", DAY_QUERY], dict(os.environ), REPO)

    def duckdb(self, raw_day: str) -> float:
        out = self.scratch / "peers" / "duckdb"
        out.mkdir(parents=True, exist_ok=True)
        return timed([sys.executable, "-c", DUCKDB, raw_day, str(out)], dict(os.environ), REPO)


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench-steps: {' '.join(argv[:2])} failed:\n{done.stderr[-3000:]}")
    return seconds


def in_turns(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Each side once a round, the order turned round every round; medians."""
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for number in range(rounds):
        order = list(sides) if number % 2 == 0 else list(reversed(sides))
        for name in order:
            seconds[name].append(sides[name]())
        print(f"    round {number + 1}: " + ", ".join(f"{n} {seconds[n][-1]:.1f} s" for n in sides),
              flush=True)  # fmt: skip
    return {name: statistics.median(s) for name, s in seconds.items()}


def phases_row(whole: float, phases: dict[str, float], names: list[str]) -> str:
    known = sum(phases.values())
    return " ".join(f"{phases.get(n, 0.0):>10.2f}" for n in names) + f" {whole - known:>10.2f}"


def report(
    title: str,
    medians: dict[str, float],
    ours: str,
    phases: list[dict[str, float]],
    peers: list[str],
) -> None:
    names = list(dict.fromkeys(n for p in phases for n in p))
    median_phases = {n: statistics.median(p.get(n, 0.0) for p in phases) for n in names}
    print(f"  {title}")
    print(f"    {'side':<28} {'seconds':>8}  " + " ".join(f"{n:>10}" for n in [*names, "other"]))
    print(
        f"    {ours:<28} {medians[ours]:>8.2f}  " + phases_row(medians[ours], median_phases, names)
    )
    for peer in peers:
        if peer in medians:
            ratio = medians[ours] / medians[peer]
            print(f"    {peer:<28} {medians[peer]:>8.2f}  this / {peer}: {ratio:.2f}x")


def stages(event_logs: Path) -> None:
    """Per phase (the job description `Run.phase` gives): Spark jobs, stages, the seconds the
    stages ran, and the tasks' time in the JVM's garbage collector."""
    for log in sorted(event_logs.iterdir()):
        stage_phase: dict[int, str] = {}
        totals: dict[str, dict[str, float]] = {}
        app = log.name

        def entry(phase: str, totals: dict[str, dict[str, float]] = totals) -> dict[str, float]:
            return totals.setdefault(phase, {"jobs": 0, "stages": 0, "seconds": 0.0, "gc": 0.0})

        for line in log.read_text().splitlines():
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerApplicationStart":
                app = event["App Name"]
            elif kind == "SparkListenerJobStart":
                described = (event.get("Properties") or {}).get("spark.job.description", "")
                phase = described.split(": ", 1)[-1] or "(no phase)"
                entry(phase)["jobs"] += 1
                for stage in event["Stage IDs"]:
                    stage_phase[stage] = phase
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                found = entry(stage_phase.get(info["Stage ID"], "(no phase)"))
                found["stages"] += 1
                found["seconds"] += (info["Completion Time"] - info["Submission Time"]) / 1000
            elif kind == "SparkListenerTaskEnd":
                gc = (event.get("Task Metrics") or {}).get("JVM GC Time", 0) / 1000
                entry(stage_phase.get(event["Stage ID"], "(no phase)"))["gc"] += gc
        print(f"  Spark in {app}:")
        for phase, t in totals.items():
            print(
                f"    {phase:<12} {t['jobs']:>3.0f} jobs {t['stages']:>3.0f} stages "
                f"{t['seconds']:>7.2f} s of stages, {t['gc']:>6.2f} s of tasks in GC"
            )


def baseline_checkout(scratch: Path, commit: str) -> Path | None:
    """The jobs as they were at `commit`, exported from this clone's history."""
    target = scratch / "before-src"
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True)
    if archive.returncode != 0:
        print(f"  no baseline: commit {commit} is not in this clone's history")
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def bench(pg: LocalPostgres, stack: LocalEnvironment, size: int, args: argparse.Namespace) -> None:
    db = Scratch(pg, stack, DATABASE)
    scratch = Path(tempfile.mkdtemp(prefix="bench-steps-"))
    try:
        started = time.perf_counter()
        db.seed(sample.SampleSpec(start=DAY, days=1, sales_per_day=size, balju_per_day=100,
                                  stores=200, items=5000))  # fmt: skip
        ((rows,),) = db.rows("SELECT count(*) FROM retail.sales")
        print(f"\n{rows:,} sales lines on {DAY} (seeded in {time.perf_counter() - started:.0f} s), "
              f"{os.cpu_count()} cores, medians of {args.rounds}", flush=True)  # fmt: skip
        baseline = baseline_checkout(scratch, args.baseline) if args.baseline else None
        sides = Sides(scratch, db, baseline)
        this = "this checkout"
        plain = "the same, no class archive"
        jit = "the same, the JVM's own JIT"
        before = f"before the trust ({args.baseline})"
        # connectorx's connections: the job's default cap (source.read_partitions), not the
        # job's local cap at the cores (connectorx reads in threads of its own)
        partitions = max(1, min(4, -(-rows // 250_000)))

        # warm-up: PostgreSQL's cache, each side's local catalog
        for side in ("this", "no-archive", "jvm-jit"):
            sides.job(side, D2S)
            sides.job(side, SALES_S2S)
        if baseline:
            sides.job("before", D2S)
            sides.job("before", SALES_S2S)
        d2s: dict[str, Callable[[], float]] = {
            this: lambda: sides.job("this", D2S),
            plain: lambda: sides.job("no-archive", D2S),
            jit: lambda: sides.job("jvm-jit", D2S),
        }
        if baseline:
            d2s[before] = lambda: sides.job("before", D2S)
        d2s["connectorx -> Parquet"] = lambda: sides.connectorx(partitions)
        d2s["COPY to nowhere"] = sides.copy
        phases: list[dict[str, float]] = []

        def ours_d2s() -> float:
            seconds = sides.job("this", D2S)
            phases.append(sides.record("this", D2S)["phases"])
            return seconds

        d2s[this] = ours_d2s
        medians = in_turns(d2s, args.rounds)
        report(
            "d2s sales",
            medians,
            this,
            phases,
            [plain, jit, before, "connectorx -> Parquet", "COPY to nowhere"],
        )

        raw_day = sides.record("this", D2S)["published"][0]["location"]
        phases = []

        def ours_s2s() -> float:
            seconds = sides.job("this", SALES_S2S)
            phases.append(sides.record("this", SALES_S2S)["phases"])
            return seconds

        s2s: dict[str, Callable[[], float]] = {
            this: ours_s2s,
            plain: lambda: sides.job("no-archive", SALES_S2S),
            jit: lambda: sides.job("jvm-jit", SALES_S2S),
        }
        if baseline:
            s2s[before] = lambda: sides.job("before", SALES_S2S)
        s2s["DuckDB, same 3 tables"] = lambda: sides.duckdb(raw_day)
        medians = in_turns(s2s, args.rounds)
        report(
            "s2s dailysales (3 tables)",
            medians,
            this,
            phases,
            [plain, jit, before, "DuckDB, same 3 tables"],
        )
        if args.stages:
            logs = scratch / "event-logs"
            sides.job("this", D2S, logs)
            sides.job("this", SALES_S2S, logs)
            stages(logs)
    finally:
        db.drop()
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="sales lines in the day")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=BEFORE_TRUST, help="commit to compare ('': none)")
    parser.add_argument("--no-stages", dest="stages", action="store_false",
                        help="skip the run with Spark's event log")  # fmt: skip
    args = parser.parse_args()
    stack = LocalEnvironment.from_environ(os.environ)
    s = stack.source
    pg = LocalPostgres(stack.pg_data, s.port, s.user, s.database, s.host)
    for size in (int(n) for n in args.sizes.split(",")):
        bench(pg, stack, size, args)


if __name__ == "__main__":
    main()
