"""Session-wide fixtures: one throwaway PostgreSQL, one local Spark session, one lake folder."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aws_limits
import pytest

from retail_etl.audit import Run
from retail_etl.catalogs import HiveCatalog
from retail_etl.lake import RUNS_FOLDER, Lake, LakeTable
from retail_etl.local.postgres import LocalPostgres
from retail_etl.runtime import local_spark
from retail_etl.settings import LocalEnvironment, SourceDb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "jobs"))  # the Glue entrypoints are scripts, not a package
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# PySpark turns collected timestamps into naive datetimes in the Python process's zone; the
# suite runs in UTC like the JVM, so expected wall-clock values read the same on any laptop.
os.environ["TZ"] = "UTC"
time.tzset()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region for moto, so no test can reach a real account, and moto
    held to the AWS limits it does not enforce itself (tests/aws_limits.py)."""
    aws_limits.install(monkeypatch)
    for key, value in {
        "AWS_DEFAULT_REGION": "ap-northeast-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def pg() -> Iterator[LocalPostgres]:
    """A PostgreSQL cluster of the suite's own, on a free port, removed at the end."""
    home = Path(tempfile.mkdtemp(prefix="retail-etl-test-pg-"))
    os.chmod(home, 0o755)  # the server runs as an unprivileged account when we are root
    server = LocalPostgres(home / "data", free_port(), user="retail", database="retail")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(pg: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> LocalEnvironment:
    home = tmp_path_factory.mktemp("stack")
    source = SourceDb("127.0.0.1", pg.port, pg.database, pg.user)
    return LocalEnvironment(home=home, source=source, lake_root=str(home / "lake"))


@pytest.fixture(scope="session")
def spark(stack: LocalEnvironment):  # type: ignore[no-untyped-def]
    session = local_spark(stack, "retail-etl-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture
def lake(spark, tmp_path: Path) -> Lake:  # type: ignore[no-untyped-def]
    """A fresh, empty lake folder for one test."""
    return Lake(spark, str(tmp_path / "lake"))


@pytest.fixture
def catalog(spark) -> Iterator[HiveCatalog]:  # type: ignore[no-untyped-def]
    """A local catalog database of one test's own, dropped after it (its files stay)."""
    database = f"test_{uuid.uuid4().hex[:10]}"
    yield HiveCatalog(spark, database)
    spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")


@pytest.fixture
def new_run(lake: Lake, catalog: HiveCatalog) -> Callable[..., Run]:
    """Runs of a job against the test's lake and catalog, each with a new run id."""

    def make(job: str = "test_job") -> Run:
        return Run(job, lake, catalog)

    return make


def runs_holding(lake: Lake, table: LakeTable, day: date) -> dict[str, str]:
    """Run id -> folder, for every run folder of `table` that holds `day`."""
    found = {}
    for run_id in lake.list_names(f"{lake.location(table)}/{RUNS_FOLDER}"):
        location = lake.run_day_location(table, run_id, day)
        if lake.exists(location):
            found[run_id] = location
    return found


def lake_files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under a lake folder with its size and modification time (ns)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# The sample month every integration test reads: small, plus rows on the day's edges.
SEEDED_DAYS = 10  # 2015-01-01 .. 2015-01-10
EDGE_ROWS_SQL = """
INSERT INTO retail.sales VALUES
  (9000000000000001, 'EDGE-1', '2015-01-05 00:00:00',     1, 1,  2, 10.10, 0.00, 'CARD'),
  (9000000000000002, 'EDGE-2', '2015-01-05 23:59:59.999', 2, 2, -1, 20.20, 0.00, NULL),
  (9000000000000003, 'EDGE-3', '2015-01-04 23:59:59.999', 1, 1,  5, 30.30, 1.00, 'CASH'),
  (9000000000000004, 'EDGE-4', '2015-01-06 00:00:00',     2, 2,  7, 40.40, 2.00, 'MOBILE');
INSERT INTO retail.balju VALUES
  (9000000000000001, '2015-01-05', 1, 1, 1, 12, 5.55, NULL,
   '2015-01-05 00:00:00', '2015-01-05 00:00:00');
"""


@pytest.fixture(scope="session")
def seeded(pg: LocalPostgres) -> LocalPostgres:
    from datetime import date

    from retail_etl.local import sample

    spec = sample.SampleSpec(
        start=date(2015, 1, 1), days=SEEDED_DAYS, sales_per_day=800, balju_per_day=150,
        stores=6, items=40, suppliers=5, seed=7,
    )  # fmt: skip
    with pg.connect() as conn:
        sample.seed(conn, spec)
        conn.execute(EDGE_ROWS_SQL)
    return pg


def sort_rows(rows: Iterable[Iterable[Any]]) -> list[tuple]:
    """Rows in a stable order, nulls last, so result sets compare regardless of order."""
    return sorted((tuple(r) for r in rows), key=lambda r: tuple((v is None, v) for v in r))


def sql_one(pg: LocalPostgres, query: str, params: tuple = ()) -> tuple:
    with pg.connect() as conn:
        return tuple(conn.execute(query, params).fetchone())


def sql_all(pg: LocalPostgres, query: str, params: tuple = ()) -> list[tuple]:
    with pg.connect() as conn:
        return sort_rows(conn.execute(query, params).fetchall())


@pytest.fixture
def job_env(stack, seeded, tmp_path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """Point the entrypoints' LocalEnvironment at the suite's PostgreSQL and a fresh lake."""
    lake_root = tmp_path / "lake"
    monkeypatch.setenv("RETAIL_ETL_HOME", str(stack.home))
    monkeypatch.setenv("RETAIL_PG_PORT", str(stack.source.port))
    monkeypatch.setenv("RETAIL_LAKE_ROOT", str(lake_root))
    return lake_root
