"""The local JVM's class archive: `make setup` builds it, every local job's JVM maps it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from retail_etl.settings import LocalEnvironment

# A local session started with -Xshare:on: the JVM refuses to start unless it maps the archive.
STRICT_SESSION = """
import os
from retail_etl.runtime import local_spark
from retail_etl.settings import LocalEnvironment
spark = local_spark(LocalEnvironment.from_environ(os.environ), "classes-test", java="-Xshare:on ")
print(spark.range(3).selectExpr("sum(id)").first()[0])
"""


def strict_session(tmp_path: Path, archive: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RETAIL_ETL_HOME": str(tmp_path),
        "RETAIL_SPARK_CLASS_ARCHIVE": str(archive),
    }
    return subprocess.run(
        [sys.executable, "-c", STRICT_SESSION], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_the_archive_setup_built_is_mapped_by_a_local_jobs_jvm(tmp_path: Path) -> None:
    archive = LocalEnvironment.from_environ({}).class_archive
    assert archive is not None and archive.is_file(), "make setup builds it"
    assert archive == Path(sys.prefix) / "spark-classes.jsa"

    done = strict_session(tmp_path, archive)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "3"


def test_a_file_that_is_not_an_archive_is_not_mapped(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.jsa"
    bogus.write_bytes(b"not a class archive\n" * 1000)

    done = strict_session(tmp_path, bogus)

    assert done.returncode != 0  # so the test above would see an archive the JVM cannot use


def test_the_archive_setting() -> None:
    assert (
        LocalEnvironment.from_environ({"RETAIL_SPARK_CLASS_ARCHIVE": "off"}).class_archive is None
    )
    chosen = LocalEnvironment.from_environ({"RETAIL_SPARK_CLASS_ARCHIVE": "/x/a.jsa"})
    assert chosen.class_archive == Path("/x/a.jsa")
