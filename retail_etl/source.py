"""Reading business days of a fact table from PostgreSQL over Spark JDBC, at one moment.

Every parallel JDBC partition is a connection of its own, and so, by default, a snapshot of its
own: rows changed while a day is read would make the day match the source at no moment. So a
read happens inside a `SourceSnapshot`, as `pg_dump -j` does it: a coordinating connection opens
a REPEATABLE READ transaction, exports its snapshot (`pg_export_snapshot()`) and keeps it open
for the whole read; it counts the day and sums its control totals, and every partition imports
the same snapshot before it reads. PostgreSQL 10 and later export snapshots on a hot standby too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import TracebackType
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_etl.errors import EtlError, SourceUnavailableError, java_reason
from retail_etl.gates import CentsSum, Figure, figure_sql
from retail_etl.lake import PARTITION_COLUMN
from retail_etl.params import DEFAULT_SOURCE_MAX_CONNECTIONS
from retail_etl.settings import SourceDb

CONNECT_TIMEOUT_SECONDS = 10
FETCH_SIZE = 10_000
ROWS_PER_READ_PARTITION = 250_000


@dataclass(frozen=True)
class FactTable:
    """A source fact table, its key, the column that says which business day a row is in (and
    the SQL that gives a row's day from it), and the control sums each extracted day must
    reproduce (name: a gate figure, `gates.figure_sql` its SQL at the source; a money sum is a
    `gates.CentsSum`, which the read-back sums in whole cents)."""

    name: str
    key: str
    day_column: str
    day_of_row: str
    control_sums: Mapping[str, Figure] = field(default_factory=dict)

    def days_filter(self, days: Sequence[date]) -> str:
        """SQL for a set of business days: one half-open range per run of consecutive days."""
        runs: list[list[date]] = []
        for day in sorted(set(days)):
            if runs and day - runs[-1][-1] == timedelta(days=1):
                runs[-1].append(day)
            else:
                runs.append([day])
        ranges = [self.day_filter(run[0], run[-1]) for run in runs]
        return ranges[0] if len(ranges) == 1 else "(" + " OR ".join(f"({r})" for r in ranges) + ")"

    def day_filter(self, first: date, last: date | None = None) -> str:
        """SQL for business days `first` to `last` (inclusive; default: `first` alone): a
        half-open range on the indexed column, so PostgreSQL filters on its index.

        The days are `date`s, never user text, so the literals cannot carry anything else.
        """
        end = (last or first) + timedelta(days=1)
        return (
            f"{self.day_column} >= DATE '{first.isoformat()}' "
            f"AND {self.day_column} < DATE '{end.isoformat()}'"
        )


FACT_TABLES = {
    "balju": FactTable(
        "retail.balju",
        key="balju_id",
        day_column="balju_date",
        day_of_row="balju_date",
        control_sums={
            "sum(order_qty)": "sum(order_qty)",
            "sum(order_qty * unit_cost)": CentsSum("unit_cost", factor="order_qty"),
        },
    ),
    "sales": FactTable(
        "retail.sales",
        key="sale_id",
        day_column="sold_at",
        day_of_row="CAST(sold_at AS date)",  # sold_at is local time (Asia/Seoul), no zone
        control_sums={
            "sum(qty)": "sum(qty)",
            "sum(qty * unit_price)": CentsSum("unit_price", factor="qty"),
            "sum(discount_amt)": CentsSum("discount_amt"),
        },
    ),
}


# A day's fingerprint: its row count and the sum of a 64-bit hash of every row, all its columns
# in the table's order. Any insert, update or delete of any column changes it (a collision needs
# two changed days whose hash sums meet by chance: 1 in 2**64), where a count and control sums do
# not: a cancelled order keeps both. A sum does not depend on the order PostgreSQL reads the rows
# in, so the query needs no sort. From PostgreSQL 14 the hash is the row's own
# (`hash_record_extended`: a built-in, though not in the documented function list, combining
# each column's extended hash, the hashes hash partitioning uses), four times faster on a million
# sales lines here than md5 of the row's text, which older servers use. Should an upgrade change
# a hash, every fingerprint changes once: the window is restated once, never skipped.
FINGERPRINT_SQL = "sum(hash_record_extended(t, 0))"
FINGERPRINT_SQL_BEFORE_14 = "sum(('x' || left(md5(t::text), 16))::bit(64)::bigint)"
EMPTY_FINGERPRINT = "0:0"  # a day without rows


def fingerprint_sql(server_version_num: int) -> str:
    return FINGERPRINT_SQL if server_version_num >= 140000 else FINGERPRINT_SQL_BEFORE_14


@dataclass(frozen=True)
class RangeExtent:
    """Rows, control sums and fingerprint of each day of a range, and the key range the
    parallel read is split over, all as of the snapshot. Days without rows are absent."""

    rows_by_day: Mapping[date, int]
    sums_by_day: Mapping[date, Mapping[str, Any]]
    min_key: int | None
    max_key: int | None
    fingerprints: Mapping[date, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_by_day.values())

    @property
    def keys(self) -> tuple[int, int] | None:
        """The lowest and highest key (None: no rows)."""
        if self.min_key is None or self.max_key is None:
            return None
        return self.min_key, self.max_key

    def fingerprint(self, day: date) -> str:
        """`rows:hash sum` of `day` as of the snapshot (`0:0` for a day without rows)."""
        return self.fingerprints.get(day, EMPTY_FINGERPRINT)


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
        # Every statement server-prepared from its first run, which is what makes the driver
        # ask for the columns in binary (the types it enables by default: integers, dates and
        # timestamps; numeric stays text) instead of printing and parsing each value as text.
        # Measured in one warm session, ten million lines read into Spark's `noop` write: 7.0-
        # 7.1 s against 8.7 s (numeric in binary too: within the noise of that). The statements
        # are prepared and run inside each connection's snapshot transaction.
        "prepareThreshold": "-1",
    }
    if source.password:
        options["password"] = source.password
    return options


# java.sql.Connection.TRANSACTION_REPEATABLE_READ
_REPEATABLE_READ = 4


class SourceSnapshot:
    """One exported REPEATABLE READ snapshot of the source, open while the `with` block runs.

    The coordinating connection lives in the Spark driver's JVM (Py4J), so it needs nothing but
    the JDBC driver Spark already loads, locally and on Glue.
    """

    def __init__(self, spark: SparkSession, source: SourceDb) -> None:
        self.spark = spark
        self.source = source
        self.id = ""
        self.server_version = 0  # server_version_num: 150004 for 15.4
        self._conn: Any = None

    def __enter__(self) -> SourceSnapshot:
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        props = jvm.java.util.Properties()
        for key, value in jdbc_options(self.source).items():
            if key not in ("url", "driver", "fetchsize"):
                props.setProperty(key, value)
        try:
            conn = jvm.org.postgresql.Driver().connect(self.source.jdbc_url, props)
            conn.setAutoCommit(False)
            conn.setTransactionIsolation(_REPEATABLE_READ)
            self._conn = conn
            self.id, version = self.query(
                "SELECT pg_export_snapshot(), current_setting('server_version_num')::int"
            )
            self.server_version = int(version)
        except Exception as err:
            self.close()
            raise SourceUnavailableError(
                f"cannot read from PostgreSQL at {self.source.where} "
                f"(database {self.source.database}, user {self.source.user}): "
                f"{_driver_reason(err)}"
            ) from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.rollback()  # it only ever read
                conn.close()
            except Exception:  # the server is gone: nothing to end, and the first error matters
                pass

    def query(self, sql: str) -> list[Any]:
        """The first row of `sql`, in the snapshot, as Python values (numeric as Decimal)."""
        return self.query_all(sql)[0]

    def query_all(self, sql: str) -> list[list[Any]]:
        """Every row of `sql` (a small answer: a row per day at most), in the snapshot."""
        statement = self._conn.createStatement()
        try:
            result = statement.executeQuery(sql)
            columns = result.getMetaData().getColumnCount()
            rows = []
            while result.next():
                # Py4J turns Long into int, BigDecimal into Decimal, String into str
                rows.append([result.getObject(n) for n in range(1, columns + 1)])
            return rows
        finally:
            statement.close()

    @property
    def session_init_statement(self) -> str:
        """What each JDBC partition runs first: join this snapshot.

        Spark runs it after switching autocommit off (it does so when `fetchsize` > 0), so it is
        the start of the transaction the partition's query then runs in.
        """
        return (
            f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{self.id}'"
        )


def _per_day(table: FactTable, days: Sequence[date], aggregates: str) -> str:
    """One statement: `aggregates` over each day's rows, a plain aggregate per day over its own
    index range, in a UNION ALL, each row led by its day. Grouping by the day instead makes
    PostgreSQL, which cannot tell how few days the rows fall in, sort every row (measured: a
    million-line day's extent 0.92 s grouped)."""
    return " UNION ALL ".join(
        f"SELECT '{day.isoformat()}', {aggregates} FROM {table.name} t "
        f"WHERE {table.day_filter(day)}"
        for day in sorted(set(days))
    )


def range_extent(
    snapshot: SourceSnapshot,
    table: FactTable,
    first: date,
    last: date,
    only: Sequence[date] | None = None,
) -> RangeExtent:
    """Each day's row count, control sums, fingerprint and key range, in the snapshot, for
    days `first` to `last` (or just the days `only`), in one statement."""
    days = (
        [first + timedelta(days=n) for n in range((last - first).days + 1)]
        if only is None
        else list(only)
    )
    if not days:
        return RangeExtent({}, {}, None, None)
    query = _per_day(
        table,
        days,
        f"count(*), min({table.key}), max({table.key}), {fingerprint_sql(snapshot.server_version)}"
        + "".join(f", {figure_sql(figure)}" for figure in table.control_sums.values()),
    )
    try:
        found = [r for r in snapshot.query_all(query) if int(r[1]) > 0]
    except Exception as err:
        raise SourceUnavailableError(
            f"cannot read {table.name} from PostgreSQL at {snapshot.source.where}: "
            f"{_driver_reason(err)}"
        ) from None
    rows_by_day: dict[date, int] = {}
    sums_by_day: dict[date, dict[str, Any]] = {}
    fingerprints: dict[date, str] = {}
    for day_text, rows, _, _, hashed, *totals in found:
        day = date.fromisoformat(day_text)
        rows_by_day[day] = int(rows)
        sums_by_day[day] = dict(zip(table.control_sums, totals, strict=True))
        fingerprints[day] = f"{int(rows)}:{hashed}"
    return RangeExtent(
        rows_by_day,
        sums_by_day,
        min((r[2] for r in found), default=None),
        max((r[3] for r in found), default=None),
        fingerprints,
    )


def day_fingerprints(
    snapshot: SourceSnapshot, table: FactTable, days: Sequence[date]
) -> dict[date, str]:
    """Each day's fingerprint in the snapshot (days without rows absent): what a look-back
    compares, and nothing more, so the window costs a count and a hash per row, not the
    control sums."""
    if not days:
        return {}
    query = _per_day(table, days, f"count(*), {fingerprint_sql(snapshot.server_version)}")
    try:
        found = snapshot.query_all(query)
    except Exception as err:
        raise SourceUnavailableError(
            f"fingerprinting {table.name} in PostgreSQL at {snapshot.source.where} failed: "
            f"{_driver_reason(err)}"
        ) from None
    return {date.fromisoformat(d): f"{int(n)}:{h}" for d, n, h in found if int(n) > 0}


def read_partitions(
    rows: int, max_connections: int = DEFAULT_SOURCE_MAX_CONNECTIONS, slots: int | None = None
) -> int:
    """Parallel JDBC partitions for `rows`: one per ROWS_PER_READ_PARTITION, capped by
    `max_connections`, because each is a connection to the operational database, and by
    `slots`, the tasks the session runs at once where that is known (`task_slots`): a partition
    past them only waits for one, and its PostgreSQL backend then competes for the same cores
    (measured, ten million lines, whole d2s processes in turns on this 2-core machine: 23.0-23.4
    s in 2 partitions against 24.1-26.4 s in 4, the write 12.7-13.1 s against 13.8-14.5 s)."""
    wanted = min(max_connections, -(-rows // ROWS_PER_READ_PARTITION))
    return max(1, wanted if slots is None else min(wanted, slots))


def task_slots(spark: SparkSession) -> int | None:
    """The tasks a local session runs at once (its cores); None on a cluster such as Glue's,
    whose executors may still be starting when the read is planned (Spark's
    defaultParallelism is then at least 2, not the cores to come)."""
    context = spark.sparkContext
    return int(context.defaultParallelism) if (context.master or "").startswith("local") else None


def read_range(
    spark: SparkSession,
    snapshot: SourceSnapshot,
    table: FactTable,
    first: date,
    last: date,
    extent: RangeExtent,
    max_connections: int = DEFAULT_SOURCE_MAX_CONNECTIONS,
    only: Sequence[date] | None = None,
) -> DataFrame:
    """Days `first` to `last` (or just the days `only`, restated days among them; `extent`
    is theirs) as of the snapshot: every column typed as in the source, plus `extract_date`
    (the row's business day), in one JDBC query split over parallel partitions.

    The date filter runs inside PostgreSQL (a subquery on the indexed column); Spark splits the
    range's key range into partitions, each a further range on the primary key. The DataFrame
    reads when an action runs: that must happen while the snapshot is open.

    Over several days PostgreSQL computes each row's day. A read of one day (every nightly run)
    takes it as a constant instead: the filter admits no other day, and a constant partition
    column spares the write its sort by day, a fifth of the write at a million lines.
    """
    if int(FETCH_SIZE) <= 0:
        # autocommit would stay on and each statement would leave the snapshot's transaction
        raise EtlError("FETCH_SIZE must be above 0: the snapshot needs autocommit off")
    days_filter = table.day_filter(first, last) if only is None else table.days_filter(only)
    if only is not None:
        one_day = min(only) if len(set(only)) == 1 else None
    else:
        one_day = first if first == last else None
    day_column = (
        "" if one_day else f", to_char({table.day_of_row}, 'YYYY-MM-DD') AS {PARTITION_COLUMN}"
    )
    partitions = read_partitions(extent.rows, max_connections, task_slots(spark))
    reader = spark.read.format("jdbc").options(
        **jdbc_options(snapshot.source),
        dbtable=(
            f"(SELECT t.*{day_column} FROM {table.name} t WHERE {days_filter}) AS business_days"
        ),
        sessionInitStatement=snapshot.session_init_statement,
    )
    if extent.keys is not None and partitions > 1:
        low, high = extent.keys
        reader = reader.options(
            partitionColumn=table.key,
            lowerBound=str(low),
            upperBound=str(high + 1),
            numPartitions=str(partitions),
        )
    if one_day:
        return reader.load().withColumn(PARTITION_COLUMN, F.lit(one_day.isoformat()))
    return reader.load()


def driver_failure(err: BaseException) -> str | None:
    """PostgreSQL's driver's own sentence when it is what failed (None: something else did)."""
    text = str(err)
    if "org.postgresql." not in text:
        return None
    return java_reason(text)


def _driver_reason(err: Exception) -> str:
    """The PostgreSQL driver's own sentence, dug out of a py4j/Spark stack trace."""
    text = str(err)
    return java_reason(text) or (
        text.strip().splitlines()[0] if text.strip() else type(err).__name__
    )
