"""The Glue entrypoints as a user runs them: in-process, as scripts, and with spark-submit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import jb_retail_factdata_d2s
import jb_retail_silver_dailybalju_s2s
import jb_retail_silver_dailysales_s2s
import pytest
from conftest import REPO, lake_files, sql_one
from moto import mock_aws

from retail_etl import lake as tables
from retail_etl.params import D2sParams
from retail_etl.settings import source_from_secrets_manager

DAY = "2015-01-05"


def test_entrypoints_run_the_day_in_process(spark, job_env, seeded, capsys) -> None:  # type: ignore[no-untyped-def]
    for target in ("balju", "sales"):
        assert jb_retail_factdata_d2s.main(["--TARGET_DATA", target, "--EXTRACT_DATE", DAY]) == 0
    assert jb_retail_silver_dailybalju_s2s.main(["--EXTRACT_DATE", DAY]) == 0
    assert jb_retail_silver_dailysales_s2s.main(["--EXTRACT_DATE", DAY]) == 0

    out = capsys.readouterr().out
    (rows,) = sql_one(seeded, "SELECT count(*) FROM retail.sales WHERE sold_at::date = %s", (DAY,))
    assert f"jb_retail_factdata_d2s: d2s:sales 2015-01-05: {rows:,} rows published from " in out
    for table in tables.ALL_TABLES:
        (published,) = (job_env / table.path / "_runs").glob(f"*/extract_date={DAY}")
        assert any(published.glob("part-*.parquet")), table

    # each record says where its run's time went, phase by phase, within the run's seconds
    records = [json.loads(p.read_text()) for p in sorted((job_env / "_audit/runs").glob("*.json"))]
    phases = {r["job"]: r["phases"] for r in records}
    assert list(phases[jb_retail_factdata_d2s.JOB_NAME]) == [
        "start", "prepare", "snapshot", "write", "read back", "publish",
    ]  # fmt: skip
    assert list(phases[jb_retail_silver_dailysales_s2s.JOB_NAME]) == [
        "start", "prepare", "read", "raw figures", "write", "read back", "publish",
    ]  # fmt: skip
    for record in records:
        assert all(seconds > 0 for seconds in record["phases"].values()), record["phases"]
        started = record["phases"]["start"]  # before the run's own clock started
        assert sum(record["phases"].values()) - started <= record["seconds"] + 0.1


BAD_INPUT = [
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", "2015-02-30"], "--EXTRACT_DATE '2015-02-30'"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", "2015-1-5"], "--EXTRACT_DATE '2015-1-5'"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", "20150105"], "--EXTRACT_DATE '20150105'"),
    (
        ["--TARGET_DATA", "sales", "--EXTRACT_DATE", "2015-01-05' OR '1'='1"],
        "--EXTRACT_DATE \"2015-01-05' OR '1'='1\"",
    ),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", ""], "--EXTRACT_DATE is empty"),
    (["--TARGET_DATA", "orders", "--EXTRACT_DATE", DAY], "--TARGET_DATA 'orders'"),
    (["--EXTRACT_DATE", DAY], "required: --TARGET_DATA"),
    (["--TARGET_DATA", "balju"], "give --EXTRACT_DATE YYYY-MM-DD, or --EXTRACT_DATE_FROM"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", "9999-12-31"], "the last business day is"),
    # forms awsglue's parser would ignore, running on the default lake instead
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY, "--LAKE_ROOT=/x"], "'--LAKE_ROOT=/x'"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY, "--LAKE-ROOT", "/x"], "'--LAKE-ROOT'"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY, "--lake_root", "/x"], "'--lake_root'"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY, "--LAKE_ROOT", ""], "--LAKE_ROOT is empty"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY, "--LAKEROOT", "/x"], "'--LAKEROOT' is not"),
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE", DAY, "--EXTRACT_DATE", "2015-01-06"], "twice"),
    # ranges
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE_FROM", "2015-01-31", "--EXTRACT_DATE_TO", DAY],
     "--EXTRACT_DATE_FROM '2015-01-31' is after --EXTRACT_DATE_TO '2015-01-05'"),
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE_FROM", "2015-01-01", "--EXTRACT_DATE_TO",
      "2016-01-02"], "is 367 days: a run takes at most 366"),
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE_FROM", DAY], "given without --EXTRACT_DATE_TO"),
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE", DAY, "--EXTRACT_DATE_TO", DAY],
     "--EXTRACT_DATE '2015-01-05' is given with --EXTRACT_DATE_TO"),
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE_FROM", "2015-02-29", "--EXTRACT_DATE_TO",
      "2015-03-01"], "--EXTRACT_DATE_FROM '2015-02-29' is not a real calendar date"),
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE", DAY, "--SOURCE_MAX_CONNECTIONS", "100"],
     "--SOURCE_MAX_CONNECTIONS '100'"),
    (["--TARGET_DATA", "sales", "--EXTRACT_DATE", DAY, "--LOOKBACK_DAYS", "-1"],
     "--LOOKBACK_DAYS '-1' is not a whole number of days from 0 to 62"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY, "--LOOKBACK_DAYS", "63"],
     "--LOOKBACK_DAYS '63' is not a whole number of days from 0 to 62"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "named"), BAD_INPUT)
def test_bad_input_is_one_line_exit_2_no_connection_nothing_written(tmp_path, argv, named) -> None:  # type: ignore[no-untyped-def]
    lake_root = tmp_path / "lake"
    with socket.socket() as listener:  # a stand-in database port that records any connection
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        env = {
            **os.environ,
            "RETAIL_ETL_HOME": str(tmp_path / "home"),
            "RETAIL_PG_PORT": str(listener.getsockname()[1]),
            "RETAIL_LAKE_ROOT": str(lake_root),
        }
        done = subprocess.run(
            [sys.executable, str(REPO / "jobs" / "jb_retail_factdata_d2s.py"), *argv],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jb_retail_factdata_d2s: error: "), done.stderr
    assert named in lines[0]
    assert not lake_root.exists() and not (tmp_path / "home").exists()


def test_s2s_bad_date_is_refused_the_same_way(tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, str(REPO / "jobs" / "jb_retail_silver_dailysales_s2s.py"),
         "--EXTRACT_DATE", "2015-13-01"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "RETAIL_LAKE_ROOT": str(tmp_path / "lake")},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "jb_retail_silver_dailysales_s2s: error: --EXTRACT_DATE '2015-13-01' is not a real "
        "calendar date"
    )
    assert not (tmp_path / "lake").exists()
    done = subprocess.run(
        [sys.executable, str(REPO / "jobs" / "jb_retail_silver_dailybalju_s2s.py"),
         "--EXTRACT_DATE_FROM", "2015-01-01", "--EXTRACT_DATE_TO", "2014-12-31"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "RETAIL_LAKE_ROOT": str(tmp_path / "lake")},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "jb_retail_silver_dailybalju_s2s: error: --EXTRACT_DATE_FROM '2015-01-01' is after "
        "--EXTRACT_DATE_TO '2014-12-31'"
    )
    assert not (tmp_path / "lake").exists()


def test_spark_submit_runs_a_job_script(spark, job_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "RETAIL_ETL_HOME": str(tmp_path / "submit-home"),  # its own catalog: one process each
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[1]",
         "--jars", "/usr/share/java/postgresql.jar",
         "--driver-java-options", "-Duser.timezone=UTC",
         str(REPO / "jobs" / "jb_retail_factdata_d2s.py"),
         "--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "d2s:balju 2015-01-05:" in done.stdout
    written = lake_files(job_env / "factdata" / "balju")
    assert any(f"/extract_date={DAY}/part-" in k for k in written)


@mock_aws
def test_glue_reads_source_credentials_from_secrets_manager(aws_env) -> None:  # type: ignore[no-untyped-def]
    client = boto3.client("secretsmanager")
    client.create_secret(
        Name="hist-retail/source",
        SecretString='{"host": "db.internal", "port": 5433, "dbname": "retail", '
        '"username": "etl", "password": "s3cret"}',
    )
    params = D2sParams.from_argv(
        [
            "--TARGET_DATA",
            "sales",
            "--EXTRACT_DATE",
            DAY,
            "--SOURCE_SECRET_ID",
            "hist-retail/source",
        ]
    )
    assert params.source_secret_id is not None
    source = source_from_secrets_manager(params.source_secret_id)
    assert source.jdbc_url == "jdbc:postgresql://db.internal:5433/retail"
    assert (source.user, source.password) == ("etl", "s3cret")
    assert "s3cret" not in repr(source)


def test_help_explains_the_arguments(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert jb_retail_factdata_d2s.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--TARGET_DATA balju|sales" in out
    assert "--EXTRACT_DATE_FROM YYYY-MM-DD --EXTRACT_DATE_TO YYYY-MM-DD" in out
    assert "--SOURCE_SECRET_ID" in out
    assert "--LOOKBACK_DAYS n" in out


def test_an_unwritable_lake_fails_before_the_source_is_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        done = subprocess.run(
            [sys.executable, str(REPO / "jobs" / "jb_retail_factdata_d2s.py"),
             "--TARGET_DATA", "sales", "--EXTRACT_DATE", DAY, "--LAKE_ROOT", "/proc/lake"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "RETAIL_ETL_HOME": str(tmp_path / "home"),
                 "RETAIL_PG_PORT": str(listener.getsockname()[1])},
        )  # fmt: skip
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert done.returncode == 1
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("jb_retail_factdata_d2s:")]
    assert line.startswith(
        "jb_retail_factdata_d2s: error: the lake root /proc/lake is not writable"
    )


def test_a_failing_spark_job_is_said_in_the_databases_words(spark, stack, seeded) -> None:  # type: ignore[no-untyped-def]
    from retail_etl.errors import one_line
    from retail_etl.source import jdbc_options

    broken = spark.read.format("jdbc").options(
        **jdbc_options(stack.source),
        dbtable="(SELECT 1 / (count(*) - count(*)) AS x FROM retail.sales) q",
    )
    with pytest.raises(Exception) as failed:
        broken.load().collect()
    assert one_line(failed.value) == "ERROR: division by zero"


def test_info_says_whether_a_password_is_set_never_which(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "RETAIL_ETL_HOME": str(tmp_path), "RETAIL_PG_PASSWORD": "s3cret-pw"}
    done = subprocess.run(
        [sys.executable, "-m", "retail_etl.local", "info", "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "s3cret-pw" not in done.stdout
    assert '"source_password_set": true' in done.stdout


def test_a_second_local_spark_process_waits_for_the_catalog_and_then_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The local catalog is an embedded Derby database: one process at a time. A second process
    # says once that it waits, then runs once the first is gone.
    script = (
        "import os, sys, time\n"
        "from retail_etl.runtime import local_spark\n"
        "from retail_etl.settings import LocalEnvironment\n"
        "spark = local_spark(LocalEnvironment.from_environ(os.environ), 'lock-test')\n"
        "spark.sql('CREATE DATABASE IF NOT EXISTS lock_test')\n"
        "print('ran', flush=True)\n"
        "time.sleep(float(sys.argv[1]))\n"
    )
    env = {**os.environ, "RETAIL_ETL_HOME": str(tmp_path / "home"), "TZ": "UTC"}
    first = subprocess.Popen(
        [sys.executable, "-c", script, "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    assert first.stdout is not None and first.stdout.readline() == "ran\n"
    second = subprocess.run(
        [sys.executable, "-c", script, "0"], capture_output=True, text=True, env=env, timeout=300
    )
    first.wait(timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout == "ran\n"
    waits = [line for line in second.stderr.splitlines() if line.startswith("waiting for process")]
    assert waits == [
        f"waiting for process {first.pid} to finish: the local catalog "
        f"({tmp_path / 'home' / 'metastore_db'}) takes one Spark process at a time"
    ]


@pytest.mark.parametrize("value", ["-1", "63", "x"])
def test_a_bad_look_back_for_the_local_batch_is_one_line_exit_2(tmp_path, value) -> None:  # type: ignore[no-untyped-def]
    """`make run LOOKBACK=...` passes it here: refused before PostgreSQL or Spark is touched."""
    done = subprocess.run(
        [sys.executable, "-m", "retail_etl.local", "run", "--date", DAY, "--lookback", value],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "RETAIL_ETL_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"retail-etl run: error: LOOKBACK {value!r} is not a whole number of days from 0 to 62"
    )
    assert not (tmp_path / "home" / "lake").exists()


def test_a_bad_heap_setting_is_refused_before_anything_starts(
    monkeypatch, capsys, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RETAIL_SPARK_DRIVER_MEMORY", "lots")
    monkeypatch.setenv("RETAIL_LAKE_ROOT", str(tmp_path / "lake"))
    assert jb_retail_silver_dailysales_s2s.main(["--EXTRACT_DATE", DAY]) == 2
    assert capsys.readouterr().err == (
        "jb_retail_silver_dailysales_s2s: error: RETAIL_SPARK_DRIVER_MEMORY='lots' is not a "
        "JVM heap size such as 2g or 1500m\n"
    )
    assert not (tmp_path / "lake").exists()
