"""Where things are: the source database, the lake root and the local environment.

The environment is read in one place, `LocalEnvironment.from_environ`, called by entrypoints only.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retail_etl.errors import ArgumentError

CATALOG_DATABASE_LOCAL = "hist_retail"  # Hive names cannot hold "-"
CATALOG_DATABASE_GLUE = "hist-retail"
JDBC_DRIVER_JAR = "/usr/share/java/postgresql.jar"
DEFAULT_PG_PORT = 54329
# Where `make setup` puts the jars of scripts/jars.txt (S3A), outside any clone.
S3A_JARS_CACHE = Path.home() / ".cache" / "retail-etl" / "jars"


@dataclass(frozen=True)
class SourceDb:
    """Connection facts of the operational PostgreSQL database."""

    host: str
    port: int
    database: str
    user: str
    password: str | None = field(default=None, repr=False)

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any]) -> SourceDb:
        """Build from an RDS-style secret: host, port, dbname, username, password."""
        missing = [k for k in ("host", "username") if not secret.get(k)]
        if missing:
            raise ValueError(f"source secret lacks {', '.join(missing)}")
        return cls(
            host=str(secret["host"]),
            port=int(secret.get("port", 5432)),
            database=str(secret.get("dbname", "retail")),
            user=str(secret["username"]),
            password=secret.get("password"),
        )


def source_from_secrets_manager(secret_id: str, client: Any = None) -> SourceDb:
    """Fetch the source's credentials on Glue; they never travel as plain job arguments."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    value = client.get_secret_value(SecretId=secret_id)["SecretString"]
    return SourceDb.from_secret(json.loads(value))


def _class_archive(setting: str | None) -> Path | None:
    if setting == "off":
        return None
    return Path(setting) if setting else Path(sys.prefix) / "spark-classes.jsa"


# A local job's JVM lives for seconds to minutes, and on a small machine its JIT compiler was
# the largest user of the CPU: in a million-line day's s2s, the JIT compiled for 31 of the
# process's 52 CPU seconds, on a machine of two cores (the JVM's own compilation time, measured
# beside the process's CPU). So C2 takes only methods three times hotter than it would (the
# Tier4 thresholds, the JVM's defaults times 3) and inlines less deep and smaller callees, and
# the JIT compiles about half as much. `make bench-steps` runs the JVM's defaults as a side:
# this / them 0.72-0.76x (d2s) and 0.88-0.89x (s2s) at a million lines, 0.94x and 0.89x at ten
# million.
# RETAIL_SPARK_JIT=jvm leaves the JVM's defaults. Glue starts its own JVMs: none of this
# applies there.
SHORT_RUN_JIT = (
    "-XX:Tier4InvocationThreshold=15000",
    "-XX:Tier4MinInvocationThreshold=1800",
    "-XX:Tier4CompileThreshold=45000",
    "-XX:Tier4BackEdgeThreshold=120000",
    "-XX:FreqInlineSize=50",
    "-XX:InlineSmallCode=500",
    "-XX:MaxInlineLevel=5",
)
JIT_SETTINGS = {"short-run": SHORT_RUN_JIT, "jvm": ()}


def _jit(setting: str | None) -> tuple[str, ...]:
    if not setting:
        return SHORT_RUN_JIT
    if setting not in JIT_SETTINGS:
        raise ArgumentError(f"RETAIL_SPARK_JIT={setting!r} is not one of {', '.join(JIT_SETTINGS)}")
    return JIT_SETTINGS[setting]


def default_driver_memory() -> str:
    """A local job's JVM heap: a quarter of the machine's memory in whole gigabytes, 1 to 4.

    Locally the driver is also the executor, so its heap is where aggregations hash their
    keys; at Spark's default (1g) a day of ten million sales lines spilled gigabytes to disk in
    the receipts' distinct counts (measured, `make bench-steps`)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{min(4, max(1, memory // 4 // 2**30))}g"


def _driver_memory(setting: str | None) -> str:
    if not setting:
        return default_driver_memory()
    if not re.fullmatch(r"[1-9][0-9]*[mMgG]", setting):
        raise ArgumentError(
            f"RETAIL_SPARK_DRIVER_MEMORY={setting!r} is not a JVM heap size such as 2g or 1500m"
        )
    return setting.lower()


@dataclass(frozen=True)
class LocalEnvironment:
    """Where a job runs when not on Glue: a throwaway PostgreSQL, a folder lake, a Hive catalog.

    With `aws_endpoint` (AWS_ENDPOINT_URL, which boto3 reads too) a job given Glue's arguments
    runs as on Glue against that endpoint instead of AWS: the rehearsal's moto server, with
    `s3://` through S3A from `spark_jars` (RETAIL_SPARK_JARS, comma-separated; by default the
    jars `make setup` put in S3A_JARS_CACHE).
    """

    home: Path
    source: SourceDb
    lake_root: str
    catalog_database: str = CATALOG_DATABASE_LOCAL
    aws_endpoint: str | None = None
    spark_jars: tuple[str, ...] = ()
    # the local JVM's class archive (`retail_etl.local.classes`; RETAIL_SPARK_CLASS_ARCHIVE, a
    # path or `off`; by default beside the Python environment's PySpark, in .venv)
    class_archive: Path | None = field(default_factory=lambda: _class_archive(None))
    # the local JVM's heap (RETAIL_SPARK_DRIVER_MEMORY; default_driver_memory)
    driver_memory: str = field(default_factory=default_driver_memory)
    # the local JVM's JIT options (RETAIL_SPARK_JIT: `short-run`, SHORT_RUN_JIT, or `jvm`)
    jit_options: tuple[str, ...] = SHORT_RUN_JIT

    @property
    def pg_data(self) -> Path:
        return self.home / "pg"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @property
    def metastore(self) -> Path:
        return self.home / "metastore_db"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], cwd: Path | None = None) -> LocalEnvironment:
        """Defaults put everything under `.local/` of the working directory (the repo in `make`)."""
        home = Path(environ.get("RETAIL_ETL_HOME") or (cwd or Path.cwd()) / ".local").resolve()
        source = SourceDb(
            host=environ.get("RETAIL_PG_HOST", "127.0.0.1"),
            port=int(environ.get("RETAIL_PG_PORT", DEFAULT_PG_PORT)),
            database=environ.get("RETAIL_PG_DATABASE", "retail"),
            user=environ.get("RETAIL_PG_USER", "retail"),
            password=environ.get("RETAIL_PG_PASSWORD") or None,
        )
        lake_root = environ.get("RETAIL_LAKE_ROOT") or str(home / "lake")
        database = environ.get("RETAIL_CATALOG_DATABASE") or CATALOG_DATABASE_LOCAL
        return cls(
            home=home,
            source=source,
            lake_root=lake_root,
            catalog_database=database,
            aws_endpoint=environ.get("AWS_ENDPOINT_URL") or None,
            spark_jars=tuple(j for j in environ.get("RETAIL_SPARK_JARS", "").split(",") if j)
            or tuple(str(p) for p in sorted(S3A_JARS_CACHE.glob("*.jar"))),
            class_archive=_class_archive(environ.get("RETAIL_SPARK_CLASS_ARCHIVE")),
            driver_memory=_driver_memory(environ.get("RETAIL_SPARK_DRIVER_MEMORY")),
            jit_options=_jit(environ.get("RETAIL_SPARK_JIT")),
        )

    def facts(self) -> dict[str, Any]:
        """What `retail-etl info` prints."""
        facts: dict[str, Any] = {
            "source_jdbc_url": self.source.jdbc_url,
            "source_host": self.source.host,
            "source_port": self.source.port,
            "source_database": self.source.database,
            "source_user": self.source.user,
            "lake_root": self.lake_root,
            "catalog_database": self.catalog_database,
            "catalog_metastore": str(self.metastore),
            "catalog_warehouse": str(self.warehouse),
            "home": str(self.home),
            "jdbc_driver_jar": JDBC_DRIVER_JAR,
            # whether one is set, never the password itself
            "source_password_set": bool(self.source.password),
        }
        return facts
