"""The Glue entrypoints as a user runs them: in-process, as scripts, and with spark-submit."""

from __future__ import annotations

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
from conftest import REPO, lake_files
from moto import mock_aws

from retail_etl import lake as tables
from retail_etl.params import D2sParams
from retail_etl.settings import source_from_secrets_manager

DAY = "2015-01-05"


@pytest.fixture
def job_env(stack, seeded, tmp_path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """Point the entrypoints' LocalStack at the suite's PostgreSQL and a fresh lake."""
    lake_root = tmp_path / "lake"
    monkeypatch.setenv("RETAIL_ETL_HOME", str(stack.home))
    monkeypatch.setenv("RETAIL_PG_PORT", str(stack.source.port))
    monkeypatch.setenv("RETAIL_LAKE_ROOT", str(lake_root))
    return lake_root


def test_entrypoints_run_the_day_in_process(spark, job_env, capsys) -> None:  # type: ignore[no-untyped-def]
    for target in ("balju", "sales"):
        assert jb_retail_factdata_d2s.main(["--TARGET_DATA", target, "--EXTRACT_DATE", DAY]) == 0
    assert jb_retail_silver_dailybalju_s2s.main(["--EXTRACT_DATE", DAY]) == 0
    assert jb_retail_silver_dailysales_s2s.main(["--EXTRACT_DATE", DAY]) == 0

    out = capsys.readouterr().out
    assert "jb_retail_factdata_d2s: d2s:sales 2015-01-05: 802 rows written" in out
    for table in (*tables.FACTDATA.values(), *tables.ALL_TABLES[2:]):
        assert (job_env / table.path / f"extract_date={DAY}").is_dir(), table


BAD_INPUT = [
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", "2015-02-30"], "--EXTRACT_DATE '2015-02-30'"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", "2015-1-5"], "--EXTRACT_DATE '2015-1-5'"),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", "20150105"], "--EXTRACT_DATE '20150105'"),
    (
        ["--TARGET_DATA", "sales", "--EXTRACT_DATE", "2015-01-05' OR '1'='1"],
        "--EXTRACT_DATE \"2015-01-05' OR '1'='1\"",
    ),
    (["--TARGET_DATA", "balju", "--EXTRACT_DATE", ""], "--EXTRACT_DATE ''"),
    (["--TARGET_DATA", "orders", "--EXTRACT_DATE", DAY], "--TARGET_DATA 'orders'"),
    (["--EXTRACT_DATE", DAY], "required: --TARGET_DATA"),
    (["--TARGET_DATA", "balju"], "required: --EXTRACT_DATE"),
]


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


def test_spark_submit_runs_a_job_script(spark, job_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert jb_retail_factdata_d2s.main(["--TARGET_DATA", "balju", "--EXTRACT_DATE", DAY]) == 0
    env = {
        **os.environ,
        "RETAIL_ETL_HOME": str(tmp_path / "submit-home"),  # its own metastore: Derby locks
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[1]",
         "--jars", "/usr/share/java/postgresql.jar",
         "--driver-java-options", "-Duser.timezone=UTC",
         str(REPO / "jobs" / "jb_retail_silver_dailybalju_s2s.py"), "--EXTRACT_DATE", DAY],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "s2s:dailybalju 2015-01-05:" in done.stdout
    written = lake_files(job_env / "silver" / "dailybalju")
    assert any(k.startswith(f"extract_date={DAY}/part-") for k in written)


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
    assert "--TARGET_DATA balju|sales --EXTRACT_DATE YYYY-MM-DD" in out
    assert "--SOURCE_SECRET_ID" in out
