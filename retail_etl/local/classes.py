"""The local Spark's class archive: Spark's classes loaded and checked once, at setup, not by
every job process.

A local job process spends seconds before its first row loading and verifying the classes of
Spark, Catalyst and the Hive metastore from PySpark's jars. Java's class-data sharing keeps
them in an archive the JVM maps at start instead (a dynamic CDS archive, Java 13+). `make setup`
builds it here by running the jobs' own steps once on a few made-up rows (a table declared in a
scratch Hive catalog, a raw day written, read back, gated and published, the three sales silver
tables built from it) with `-XX:ArchiveClassesAtExit`; `runtime.local_spark` then starts every
local JVM with `-XX:SharedArchiveFile`.

The JVM checks the archive against its own build and the jars it was made from, and ignores one
that does not match (a Java or PySpark upgrade: `make setup` builds it again). A half-written
archive, though, can crash the JVM that maps it, so it is written under another name and
renamed once the JVM that wrote it has ended. Glue starts its own JVMs; none of this is used
there.

    python -m retail_etl.local.classes [ARCHIVE]   (default: RETAIL_SPARK_CLASS_ARCHIVE's)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import DataFrame, SparkSession

from retail_etl import contract, gates, source, steps
from retail_etl.audit import Run
from retail_etl.catalogs import HiveCatalog
from retail_etl.lake import FACTDATA, PARTITION_COLUMN, Lake
from retail_etl.params import DayRange
from retail_etl.runtime import local_spark
from retail_etl.settings import LocalEnvironment, SourceDb

DAY = date(2015, 1, 5)


def made_up_sales(spark: SparkSession, rows: int = 2000) -> DataFrame:
    """`rows` raw sales lines of DAY in the contract's columns, made from the row number."""

    def value(kind: str) -> str:
        made = {"int": "id % 50", "string": "concat('r', id % 700)"}
        return f"TIMESTAMP '{DAY} 10:00:00'" if kind == "timestamp" else made.get(kind, "id")

    return spark.range(rows).selectExpr(
        *[f"CAST({value(k)} AS {k}) AS `{n}`" for n, k in contract.of(FACTDATA["sales"]).columns],
        f"'{DAY.isoformat()}' AS {PARTITION_COLUMN}",
    )


def train(archive: Path) -> None:
    """Run the steps once in a scratch home with the JVM dumping its classes to `archive`."""
    with tempfile.TemporaryDirectory(prefix="retail-etl-classes-") as scratch:
        home = Path(scratch)
        stack = LocalEnvironment(
            home=home,
            source=SourceDb("127.0.0.1", 1, "none", "none"),  # not read: no JDBC here
            lake_root=str(home / "lake"),
            class_archive=None,
        )
        spark = local_spark(
            stack,
            "retail-etl-classes",
            java=f"-XX:ArchiveClassesAtExit={archive} -Xlog:cds=off -Xlog:cds+dynamic=off ",
        )
        gateway_process = SparkContext._gateway.proc  # type: ignore[union-attr]
        lake, catalog = Lake(spark, stack.lake_root), HiveCatalog(spark, "classes")
        raw = FACTDATA["sales"]
        run = Run("classes", lake, catalog)
        run.prepare([raw])
        key = contract.of(raw).key
        keys = gates.key_count(key, (0, 1999), 2000)  # made_up_sales' keys: by words
        figures = {**source.FACT_TABLES["sales"].control_sums, **keys}  # as the d2s reads back
        run.publish(run.write(made_up_sales(spark), raw, [DAY], figures))
        run.save()
        steps.build_dailysales(Run("classes", lake, catalog), DayRange.one(DAY))
        spark.stop()
        # the JVM writes the archive as it exits, which it does when its stdin closes
        gateway_process.stdin.close()
        gateway_process.wait(timeout=300)


def main(argv: list[str]) -> int:
    stack = LocalEnvironment.from_environ(os.environ)
    target = Path(argv[0]) if argv else stack.class_archive
    if target is None:
        print("classes: RETAIL_SPARK_CLASS_ARCHIVE is off; nothing to build", file=sys.stderr)
        return 0
    started = time.monotonic()
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        train(partial)
        if not partial.is_file() or partial.stat().st_size == 0:
            print(f"classes: the JVM wrote no archive at {partial}", file=sys.stderr)
            return 1
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    size = target.stat().st_size / 2**20
    print(f"classes: {target} ({size:.0f} MiB) built in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
