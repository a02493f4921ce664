"""Reading one business day of a fact table from PostgreSQL over Spark JDBC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession

from retail_etl.errors import SourceUnavailableError
from retail_etl.settings import SourceDb

CONNECT_TIMEOUT_SECONDS = 10
FETCH_SIZE = 10_000
MAX_READ_PARTITIONS = 8
ROWS_PER_READ_PARTITION = 250_000


@dataclass(frozen=True)
class FactTable:
    """A source fact table, its key, and the column that says which business day a row is in."""

    name: str
    key: str
    day_column: str

    def day_filter(self, day: date) -> str:
        """SQL for business day `day`: a half-open range on the indexed column.

        `day` is a `date`, never user text, so the literals cannot carry anything else.
        """
        return (
            f"{self.day_column} >= DATE '{day.isoformat()}' "
            f"AND {self.day_column} < DATE '{(day + timedelta(days=1)).isoformat()}'"
        )


FACT_TABLES = {
    "balju": FactTable("retail.balju", key="balju_id", day_column="balju_date"),
    "sales": FactTable("retail.sales", key="sale_id", day_column="sold_at"),
}


@dataclass(frozen=True)
class DayExtent:
    """How many rows the day has, and the key range the parallel read is split over."""

    rows: int
    min_key: int | None
    max_key: int | None


def jdbc_options(source: SourceDb) -> dict[str, str]:
    options = {
        "url": source.jdbc_url,
        "user": source.user,
        "driver": "org.postgresql.Driver",
        # Bounded waits so an unreachable database fails fast instead of hanging the job.
        "connectTimeout": str(CONNECT_TIMEOUT_SECONDS),
        "loginTimeout": str(CONNECT_TIMEOUT_SECONDS),
        "socketTimeout": "0",
        "fetchsize": str(FETCH_SIZE),
    }
    if source.password:
        options["password"] = source.password
    return options


def day_extent(spark: SparkSession, source: SourceDb, table: FactTable, day: date) -> DayExtent:
    """Ask PostgreSQL for the day's row count and key range (one small indexed query)."""
    query = (
        f"SELECT count(*) AS n, min({table.key}) AS lo, max({table.key}) AS hi "
        f"FROM {table.name} WHERE {table.day_filter(day)}"
    )
    try:
        row = spark.read.format("jdbc").options(**jdbc_options(source), query=query).load().first()
    except Exception as err:  # py4j wraps the driver's error; the message is what matters
        raise SourceUnavailableError(
            f"cannot read {table.name} from PostgreSQL at {source.where} "
            f"(database {source.database}, user {source.user}): {_driver_reason(err)}"
        ) from err
    assert row is not None  # an aggregate always returns one row
    return DayExtent(rows=int(row["n"]), min_key=row["lo"], max_key=row["hi"])


def read_day(
    spark: SparkSession, source: SourceDb, table: FactTable, day: date, extent: DayExtent
) -> DataFrame:
    """The day's rows, every column typed as in the source, read over parallel JDBC partitions.

    The date filter runs inside PostgreSQL (a subquery); Spark splits the day's key range into
    partitions, each a further range on the primary key.
    """
    partitions = max(1, min(MAX_READ_PARTITIONS, -(-extent.rows // ROWS_PER_READ_PARTITION)))
    reader = spark.read.format("jdbc").options(
        **jdbc_options(source),
        dbtable=f"(SELECT * FROM {table.name} WHERE {table.day_filter(day)}) AS business_day",
    )
    if extent.min_key is not None and extent.max_key is not None and partitions > 1:
        reader = reader.options(
            partitionColumn=table.key,
            lowerBound=str(extent.min_key),
            upperBound=str(extent.max_key + 1),
            numPartitions=str(partitions),
        )
    return reader.load()


def _driver_reason(err: Exception) -> str:
    """The PostgreSQL driver's own sentence, dug out of a py4j/Spark stack trace."""
    text = str(err)
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("org.postgresql.util.PSQLException:", "java.net.")):
            return line.split(":", 1)[1].strip()
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__
