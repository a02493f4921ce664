"""The Spark runtime: GlueContext and a Glue Job on AWS Glue, a plain SparkSession elsewhere."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pyspark.sql import SparkSession

from retail_etl.errors import EtlError
from retail_etl.settings import JDBC_DRIVER_JAR, LocalEnvironment

log = logging.getLogger(__name__)
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")

# Same on Glue and locally: rerunning a day replaces only that day's partition, and timestamps
# without a zone keep their wall-clock value because the JVM and the session both use UTC.
# Timestamps go into Parquet as the format's own INT64 TIMESTAMP(MICROS), not Spark's default
# INT96, which the Parquet format deprecates: a plain 64-bit integer to encode (measured in one
# warm session, a ten-million-line day rewritten 7.3-7.5 s against 8.7-8.9 s), with min/max
# statistics. Spark, Athena (Trino's reader) and Glue read both, so days written before this
# still read as they are beside the new ones.
COMMON_CONF = {
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def on_glue(glue_args: Mapping[str, str]) -> bool:
    """Glue passes `--JOB_RUN_ID` to every job run; nothing else does."""
    return bool(glue_args.get("JOB_RUN_ID"))


# Locks this process holds, by path: one per local catalog, kept until the process ends.
_HELD: dict[Path, IO[str]] = {}


def hold_local_catalog(stack: LocalEnvironment) -> None:
    """Wait until no other process uses this stack's local catalog, then keep it to ourselves.

    The catalog is an embedded Derby database, which one process at a time may open: a second
    `make run` (or `make sql` during a run) waits here, saying so once, instead of failing half
    way through a batch. The lock is the kernel's, so a killed holder releases it.
    """
    path = stack.home / "catalog.lock"
    if path in _HELD:
        return
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        print(
            f"waiting for process {holder} to finish: the local catalog ({stack.metastore}) "
            "takes one Spark process at a time",
            file=sys.stderr,
            flush=True,
        )
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _HELD[path] = handle


def _local_builder(
    app_name: str, master: str, jars: tuple[str, ...], shuffle_partitions: int, java: str = ""
) -> SparkSession.Builder:
    """What every local session shares: the JDBC driver (and `jars`), no UI, UTC, the log
    configuration and COMMON_CONF."""
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.jars", ",".join((JDBC_DRIVER_JAR, *jars)))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config(
            "spark.driver.extraJavaOptions",
            f"-Duser.timezone=UTC {java}-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        )
    )
    for key, value in COMMON_CONF.items():
        builder = builder.config(key, value)
    return builder


def _started(builder: SparkSession.Builder) -> SparkSession:
    spark = builder.getOrCreate()
    check_jvm_time_zone(spark)
    return spark


def local_spark(
    stack: LocalEnvironment, app_name: str, shuffle_partitions: int = 8, java: str = ""
) -> SparkSession:
    """A local SparkSession with the JDBC driver and a Hive metastore standing in for Glue's,
    its JVM started from the class archive `make setup` built (`retail_etl.local.classes`)
    when there is one, with the JIT options of a short run (`settings.SHORT_RUN_JIT`);
    `java`: more JVM options."""
    stack.home.mkdir(parents=True, exist_ok=True)
    hold_local_catalog(stack)
    java += f"-Dderby.system.home={stack.home} " + "".join(f"{o} " for o in stack.jit_options)
    if stack.class_archive is not None and stack.class_archive.is_file():
        # an archive the JVM cannot use (another Java build, changed jars) is skipped; quietly,
        # as a warning on stdout would land in every job's output
        java += f"-XX:SharedArchiveFile={stack.class_archive} -Xlog:cds=off -Xlog:cds+dynamic=off "
    builder = (
        _local_builder(app_name, "local[*]", (), shuffle_partitions, java)
        .config("spark.driver.memory", stack.driver_memory)  # read when the JVM starts
        .config("spark.sql.warehouse.dir", str(stack.warehouse))
        # Spark's generated aggregations look every row up in a small first-level map (65,536
        # slots) before their main hash map. Grouped by receipt or by line, a day fills it at
        # once, and every later row pays the miss: without it, measured in one warm session,
        # ten million lines, the three sales tables and the raw side's figures computed
        # without writes took 22.4 s against 25.7 s; a million lines 6.7 s against 6.8 s; the
        # d2s read-back within the noise. Measured here only, so Glue keeps its default.
        .config("spark.sql.codegen.aggregate.map.twolevel.enabled", "false")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={stack.metastore};create=true",
        )
        .enableHiveSupport()
    )
    return _started(builder)


def glue_like_spark(env: LocalEnvironment, app_name: str) -> SparkSession:
    """A local SparkSession shaped as a Glue 5.1 job's: no Hive catalog (the jobs run without
    --enable-glue-datacatalog and call the Glue API themselves), and `s3://` served by Hadoop's
    S3A, which Glue 5.1 made its default S3 connector in place of EMRFS ("Migrating AWS Glue for
    Spark jobs to AWS Glue version 5.1"). The rehearsal's job runs use it with `aws_endpoint`
    at moto's server (plain HTTP on 127.0.0.1, path-style, as moto serves it); `retail-etl
    catalog restore --glue` uses it against AWS's own S3.

    S3A takes its credentials from the environment (AWS_ACCESS_KEY_ID, ...; the role session
    the rehearsal gives a job run) or the instance's role.
    """
    if not env.spark_jars:
        raise EtlError(
            "RETAIL_SPARK_JARS is not set: s3:// needs hadoop-aws and the AWS SDK bundle "
            "(make setup puts them in ~/.cache/retail-etl/jars)"
        )
    builder = _local_builder(app_name, "local[2]", env.spark_jars, 4).config(
        "spark.hadoop.fs.s3.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem"
    )
    if env.aws_endpoint:
        builder = (
            builder.config("spark.hadoop.fs.s3a.endpoint", env.aws_endpoint)
            .config("spark.hadoop.fs.s3a.path.style.access", "true")
            .config("spark.hadoop.fs.s3a.connection.ssl.enabled", "false")
            .config("spark.hadoop.fs.s3a.attempts.maximum", "2")
            .config("spark.hadoop.fs.s3a.retry.limit", "2")
        )
    return _started(builder)


def check_jvm_time_zone(spark: SparkSession) -> None:
    """Refuse to run when the JVM's zone is not UTC (e.g. spark-submit without the option)."""
    zone = spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID()  # type: ignore[union-attr]
    if zone not in ("UTC", "Etc/UTC", "GMT"):
        raise EtlError(
            f"the JVM time zone is {zone}; start Spark with -Duser.timezone=UTC "
            "(spark-submit --driver-java-options -Duser.timezone=UTC) so source timestamps "
            "keep their wall-clock value"
        )


@dataclass
class Runtime:
    """A Spark session plus, on Glue, the Glue job whose bookmark state `commit` records."""

    spark: SparkSession
    glue_job: Any = None

    @classmethod
    def start(cls, job_name: str, glue_args: Mapping[str, str], stack: LocalEnvironment) -> Runtime:
        if on_glue(glue_args) and stack.aws_endpoint:
            return cls(glue_like_spark(stack, job_name))
        if on_glue(glue_args):
            return cls._start_glue(job_name, glue_args)
        return cls(local_spark(stack, job_name))

    @classmethod
    def _start_glue(cls, job_name: str, glue_args: Mapping[str, str]) -> Runtime:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        glue_context = GlueContext(SparkContext.getOrCreate())
        spark = glue_context.spark_session
        for key, value in COMMON_CONF.items():
            spark.conf.set(key, value)
        job = Job(glue_context)
        job.init(glue_args.get("JOB_NAME", job_name), dict(glue_args))
        return cls(spark, job)

    def commit(self) -> None:
        if self.glue_job is not None:
            self.glue_job.commit()
