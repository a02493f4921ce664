"""Atomic publish: what readers find through the catalog when runs are killed, overlap or fail.

The jobs here run as real processes in a session of their own and are killed with SIGKILL of
their whole process group (the Python driver and its JVM) at chosen moments: after their files
are written, after the intent to publish is recorded, between two of the three silver switches,
and at moments chosen only by the clock. Each process has its own local catalog (the embedded
Derby database takes one process at a time); a separate process reads it afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from conftest import REPO, runs_holding, sql_one

from retail_etl import lake as tables
from retail_etl.catalogs import HiveCatalog, day_location
from retail_etl.lake import Lake
from retail_etl.publish import Output, clean_up, publish, roll_forward, run_of

DAY = "2015-01-05"
DAY_SALES_SQL = "SELECT count(*) FROM retail.sales WHERE sold_at::date = DATE '2015-01-05'"

# Runs a job with one of its steps replaced by "do it, then die": the whole process group gets
# SIGKILL, as an operator's kill or a lost node would give it.
KILLER = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
point, job = sys.argv[2], sys.argv[3]
from retail_etl import audit, catalogs, publish

def die():
    os.killpg(0, signal.SIGKILL)

if point == "after-write":
    write = audit.Run.write
    def write_then_die(self, *args):
        write(self, *args)
        die()
    audit.Run.write = write_then_die
elif point == "after-intent":
    def switch_never(*args):
        die()
    publish._switch = switch_never
elif point == "after-first-switch":  # the first table's days switched, the others not yet
    set_days = catalogs.HiveCatalog.set_days
    def switch_once(*args):
        set_days(*args)
        die()
    catalogs.HiveCatalog.set_days = switch_once
module = __import__(job)
sys.exit(module.main(sys.argv[4:]))
"""

READER = r"""
import json, os, sys
from datetime import date
from retail_etl.lake import LakeTable
from retail_etl.catalogs import HiveCatalog, day_location
from retail_etl.runtime import local_spark
from retail_etl.settings import LocalEnvironment
stack = LocalEnvironment.from_environ(os.environ)
spark = local_spark(stack, "reader")
catalog = HiveCatalog(spark, stack.catalog_database)
found = {}
days = sys.argv[1].split(",")  # one day: keyed by table; several: by "table day"
for table in sys.argv[2:]:
    name = f"{stack.catalog_database}.{table}"
    for day in days:
        key = table if len(days) == 1 else f"{table} {day}"
        if not spark.catalog.tableExists(name):
            found[key] = None
            continue
        location = day_location(catalog, LakeTable(table, ""), date.fromisoformat(day))
        rows = spark.sql(f"SELECT count(*) FROM {name} WHERE extract_date = '{day}'").first()[0]
        found[key] = {"location": location, "rows": rows}
print(json.dumps(found))
"""


@pytest.fixture
def env(seeded, stack, tmp_path):  # type: ignore[no-untyped-def]
    return {
        **os.environ,
        "RETAIL_ETL_HOME": str(tmp_path / "home"),
        "RETAIL_PG_PORT": str(stack.source.port),
        "RETAIL_LAKE_ROOT": str(tmp_path / "lake"),
        "TZ": "UTC",
    }


def job(env, name: str, *argv: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    if kill_at is None:
        command = [sys.executable, str(REPO / "jobs" / f"{name}.py"), *argv]
    else:
        command = [sys.executable, "-c", KILLER, str(REPO / "jobs"), kill_at, name, *argv]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, start_new_session=True
    )


def published(env, *names: str, days: str = DAY) -> dict[str, dict[str, object] | None]:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-c", READER, days, *names],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def d2s(env, **kill):  # type: ignore[no-untyped-def]
    return job(
        env, "jb_retail_factdata_d2s", "--TARGET_DATA", "sales", "--EXTRACT_DATE", DAY, **kill
    )


def run_folders(env, table: tables.LakeTable) -> list[str]:  # type: ignore[no-untyped-def]
    folder = Path(env["RETAIL_LAKE_ROOT"]) / table.path / "_runs"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_killed_d2s_run_leaves_the_published_day_whole_and_the_next_run_cleans_up(  # type: ignore[no-untyped-def]
    env, seeded
) -> None:
    expected = sql_one(seeded, DAY_SALES_SQL)[0]
    assert d2s(env).returncode == 0
    first = published(env, "factdata_sales")["factdata_sales"]
    assert first is not None and first["rows"] == expected

    folders = {}
    for point in ("after-write", "after-intent"):
        before = set(run_folders(env, tables.FACTDATA["sales"]))
        killed = d2s(env, kill_at=point)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert published(env, "factdata_sales")["factdata_sales"] == first, point
        (folders[point],) = set(run_folders(env, tables.FACTDATA["sales"])) - before

    again = d2s(env)

    assert again.returncode == 0, again.stderr[-2000:]
    now = published(env, "factdata_sales")["factdata_sales"]
    assert now is not None and now["rows"] == expected and now["location"] != first["location"]
    # The run killed after its gates passed and its intent was recorded was published by the
    # next run first (rolled forward), then replaced: it is the one kept for a rollback. The
    # first day and the run killed before its gates are gone.
    assert run_folders(env, tables.FACTDATA["sales"]) == sorted(
        [folders["after-intent"], run_of(str(now["location"]))]
    )


def test_a_run_killed_between_silver_switches_is_rolled_forward_by_the_next(  # type: ignore[no-untyped-def]
    env, seeded
) -> None:
    silver = ("silver_dailysales_item", "silver_dailysales_store", "silver_dailysales_hourly")
    assert d2s(env).returncode == 0
    assert job(env, "jb_retail_silver_dailysales_s2s", "--EXTRACT_DATE", DAY).returncode == 0
    before = published(env, *silver)

    killed = job(
        env, "jb_retail_silver_dailysales_s2s", "--EXTRACT_DATE", DAY, kill_at="after-first-switch"
    )
    assert killed.returncode == -signal.SIGKILL
    half = published(env, *silver)
    runs = {t: run_of(str(v["location"])) for t, v in half.items() if v}  # type: ignore[index]
    assert runs["silver_dailysales_item"] != run_of(
        str(before["silver_dailysales_item"]["location"])
    )  # type: ignore[index]
    assert half["silver_dailysales_store"] == before["silver_dailysales_store"]
    killed_run = runs["silver_dailysales_item"]
    intents = Path(env["RETAIL_LAKE_ROOT"]) / "_audit" / "publishing"
    assert [p.name for p in intents.glob("*.json")] == [f"{killed_run}.json"]

    # the next run of any job that publishes those tables finishes the switch first
    again = job(env, "jb_retail_silver_dailysales_s2s", "--EXTRACT_DATE", DAY)

    assert again.returncode == 0, again.stderr[-2000:]
    record = json.loads(
        max((Path(env["RETAIL_LAKE_ROOT"]) / "_audit" / "runs").glob("*.json")).read_text()
    )
    assert record["rolled_forward"] == [killed_run]
    after = published(env, *silver)
    assert len({run_of(str(v["location"])) for v in after.values() if v}) == 1  # type: ignore[index]
    assert [v["rows"] for v in after.values()] == [v["rows"] for v in before.values()]  # type: ignore[index]
    assert not list(intents.glob("*.json"))


def test_a_killed_range_run_leaves_every_day_whole_and_the_next_publishes_them_all(  # type: ignore[no-untyped-def]
    env, seeded
) -> None:
    days = ["2015-01-04", "2015-01-05", "2015-01-06"]
    argv = ["--TARGET_DATA", "sales", "--EXTRACT_DATE_FROM", days[0], "--EXTRACT_DATE_TO", days[-1]]
    expected = {
        f"factdata_sales {d}": sql_one(
            seeded, f"SELECT count(*) FROM retail.sales WHERE sold_at::date = DATE '{d}'"
        )[0]
        for d in days
    }
    assert job(env, "jb_retail_factdata_d2s", *argv).returncode == 0
    first = published(env, "factdata_sales", days=",".join(days))
    assert {k: v["rows"] for k, v in first.items()} == expected  # type: ignore[index]

    for point in ("after-write", "after-intent"):
        killed = job(env, "jb_retail_factdata_d2s", *argv, kill_at=point)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert published(env, "factdata_sales", days=",".join(days)) == first, point

    again = job(env, "jb_retail_factdata_d2s", *argv)

    assert again.returncode == 0, again.stderr[-2000:]
    now = published(env, "factdata_sales", days=",".join(days))
    assert {k: v["rows"] for k, v in now.items()} == expected  # type: ignore[index]
    runs = {run_of(str(v["location"])) for v in now.values()}  # type: ignore[index]
    assert len(runs) == 1 and runs != {run_of(str(v["location"])) for v in first.values()}  # type: ignore[index]
    assert not list((Path(env["RETAIL_LAKE_ROOT"]) / "_audit" / "publishing").glob("*.json"))


@pytest.mark.parametrize("after_seconds", [7.0, 11.0])
def test_a_d2s_run_killed_at_any_moment_leaves_a_whole_day(env, seeded, after_seconds) -> None:  # type: ignore[no-untyped-def]
    expected = sql_one(seeded, DAY_SALES_SQL)[0]
    assert d2s(env).returncode == 0
    first = published(env, "factdata_sales")["factdata_sales"]
    running = subprocess.Popen(
        [sys.executable, str(REPO / "jobs" / "jb_retail_factdata_d2s.py"),
         "--TARGET_DATA", "sales", "--EXTRACT_DATE", DAY],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(after_seconds)
    if running.poll() is None:
        os.killpg(running.pid, signal.SIGKILL)
    running.wait(timeout=60)

    now = published(env, "factdata_sales")["factdata_sales"]
    assert now is not None and now["rows"] == expected  # the old day or the new, whole
    if now["location"] != first["location"]:  # the run got as far as publishing
        assert run_of(str(now["location"])) in run_folders(env, tables.FACTDATA["sales"])


# In-process: the rules behind the switches, on the suite's Spark session.


def output(lake: Lake, run_id: str, rows: int = 1) -> Output:
    table = tables.SILVER_DAILYBALJU
    day = date.fromisoformat(DAY)
    location = lake.run_day_location(table, run_id, day)
    Path(location).mkdir(parents=True)
    (Path(location) / "part-0.parquet").write_bytes(b"")
    return Output(table, day, location, rows)


def test_switches_only_move_forward_so_overlapping_runs_end_with_the_newer(  # type: ignore[no-untyped-def]
    lake, catalog
) -> None:
    catalog.ensure_table(tables.SILVER_DAILYBALJU, lake.location(tables.SILVER_DAILYBALJU))
    older, newer = "20150106T010000000000Z-aaaaaa", "20150106T010500000000Z-bbbbbb"
    older_output, newer_output = output(lake, older), output(lake, newer)

    (done,) = publish(lake, catalog, newer, [newer_output])
    (late,) = publish(lake, catalog, older, [older_output])  # the older run publishes last

    assert done.applied and not late.applied
    day = date.fromisoformat(DAY)
    assert run_of(day_location(catalog, tables.SILVER_DAILYBALJU, day)) == newer


def test_clean_up_keeps_the_previous_day_and_newer_runs_still_writing(lake, catalog) -> None:  # type: ignore[no-untyped-def]
    ids = [f"2015010{n}T010000000000Z-00000{n}" for n in range(1, 6)]
    for run_id in ids:
        output(lake, run_id)
    day = date.fromisoformat(DAY)
    table = tables.SILVER_DAILYBALJU

    removed = clean_up(lake, table, ids[2], {day: lake.run_day_location(table, ids[1], day)})

    # the oldest day goes, and its run folder with it once empty
    assert removed == [lake.run_day_location(table, ids[0], day), lake.run_location(table, ids[0])]
    assert sorted(runs_holding(lake, table, day)) == ids[1:]
    # a run killed before its commit left no day folder, only Spark's scratch: it goes as well
    killed = "20150101T000000000000Z-killed"
    (Path(lake.run_location(table, killed)) / "_temporary" / "0").mkdir(parents=True)
    removed = clean_up(lake, table, ids[2], {day: lake.run_day_location(table, ids[1], day)})
    assert removed == [lake.run_location(table, killed)]
    assert not Path(lake.run_location(table, killed)).exists()


def test_roll_forward_finishes_an_intent_and_skips_one_whose_files_are_gone(  # type: ignore[no-untyped-def]
    lake, catalog
) -> None:
    table = tables.SILVER_DAILYBALJU
    catalog.ensure_table(table, lake.location(table))
    day = date.fromisoformat(DAY)
    kept = output(lake, "20150106T010000000000Z-aaaaaa")
    lake.write_text(
        f"{lake.root}/_audit/publishing/{'20150106T010000000000Z-aaaaaa'}.json",
        json.dumps({"run_id": "20150106T010000000000Z-aaaaaa", "outputs": [kept.as_record()]}),
    )
    other = HiveCatalog(catalog.spark, catalog.database)

    assert roll_forward(lake, other, [tables.SILVER_DAILYSALES_ITEM]) == []  # not its tables
    assert roll_forward(lake, other, [table]) == ["20150106T010000000000Z-aaaaaa"]
    assert run_of(day_location(catalog, table, day)) == "20150106T010000000000Z-aaaaaa"
    assert roll_forward(lake, other, [table]) == []  # done once
