"""What each Glue job does: write a run's days, check them with the gates, publish them.

Every step is write -> audit -> publish: it writes into its run's own folder, checks what it
wrote against the source (d2s) or the raw days (s2s), day by day, and only then switches the
catalog. A step takes one day or a range of days (at most 366) in one pass: one JDBC read, one
aggregation, one write, one round of gates, one publish.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_etl import contract, gates, restate, source, transforms
from retail_etl import lake as tables
from retail_etl.audit import Run
from retail_etl.errors import SourceUnavailableError
from retail_etl.lake import PARTITION_COLUMN, LakeTable
from retail_etl.params import DEFAULT_SOURCE_MAX_CONNECTIONS, DayRange
from retail_etl.publish import Output
from retail_etl.settings import SourceDb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """One step's outcome, as the summary shows it: totals over its days, and rows per day."""

    step: str
    rows_in: int | None
    rows_out: int
    seconds: float
    location: str
    note: str = ""
    rows_by_day: Mapping[date, int] = field(default_factory=dict)
    restated: str = ""  # `restated 2015-01-03 (changed), ...`: window days written again


def extract_days(
    spark: SparkSession,
    source_db: SourceDb,
    run: Run,
    target: str,
    days: DayRange,
    max_connections: int = DEFAULT_SOURCE_MAX_CONNECTIONS,
    window: Sequence[date] = (),
) -> StepResult:
    """d2s: business days `days` of `target`, as of one snapshot of PostgreSQL, into the raw
    table, in one JDBC read; with a look-back `window` (days before `days`), also every window
    day whose source changed since it was published, in the same snapshot and the same read.

    The gates compare what was written, day by day, with the snapshot's own counts, control
    sums and key.
    """
    started = time.monotonic()
    fact = source.FACT_TABLES[target]
    table = tables.FACTDATA[target]
    with run.phase("prepare"):
        run.prepare([table])
    with source.SourceSnapshot(spark, source_db) as snapshot:
        with run.phase("snapshot"):
            # the window's fingerprints decide which of its days are read again; then the
            # counts, sums, keys and fingerprints of the days to write, for the gates and the
            # record
            window_fingerprints = source.day_fingerprints(snapshot, fact, window)
            plan = restate.extraction_plan(run, table, days.days, window, window_fingerprints)
            todo = _plan(run, plan)
            extent = source.range_extent(snapshot, fact, days.first, days.last, only=todo)
        empty = [d for d in days.days if d not in extent.rows_by_day]
        if empty:
            log.warning("%s has no rows for %s; published empty", fact.name, _list_days(empty))
        rows = source.read_range(
            spark, snapshot, fact, days.first, days.last, extent, max_connections, only=todo
        )
        rows = rows.transform(transforms.with_extracted_at(datetime.now(UTC))).select(
            *[n for n, _ in contract.of(table).columns], PARTITION_COLUMN
        )
        key = contract.of(table).key
        figures = {**fact.control_sums, **gates.key_count(key, extent.keys, extent.rows)}
        try:  # the read happens in the write, in the snapshot
            outputs = run.write(rows, table, todo, figures)
        except Exception as err:
            reason = source.driver_failure(err)
            if reason is None:
                raise
            raise SourceUnavailableError(
                f"reading {fact.name} from PostgreSQL at {source_db.where} failed: {reason}"
            ) from None
    run.check(
        gates.raw_gates(
            {o.day: o.found for o in outputs},
            table.name,
            key,
            todo,
            extent.rows_by_day,
            extent.sums_by_day,
            fact.control_sums,
        )
    )
    # what the next look-back compares with: kept in this run's record
    run.fingerprints.setdefault(table.name, {}).update(
        {day.isoformat(): extent.fingerprint(day) for day in todo}
    )
    with run.phase("publish"):
        run.publish(outputs)
    seconds = time.monotonic() - started
    return _result(f"d2s:{target}", extent.rows, outputs, seconds, plan)


def build_dailybalju(run: Run, asked: DayRange, window: Sequence[date] = ()) -> StepResult:
    """s2s: the published purchase orders of `asked` into `silver_dailybalju`, in one pass,
    with every day of the look-back `window` whose raw day was republished since its build."""
    started = time.monotonic()
    raw_table, silver = tables.FACTDATA["balju"], tables.SILVER_DAILYBALJU
    with run.phase("prepare"):
        run.prepare([raw_table, silver])
    with run.phase("read"):
        plan = restate.rebuild_plan(run, raw_table, [silver], asked.days, window)
        days = _plan(run, plan)
        balju = _raw_days(run, raw_table, [silver], days).cache()  # read once: counted, built
    try:
        with run.phase("raw figures"):
            expected = gates.totals_by_day(balju, _zero_if_none(ORDERS_RAW), days)
        rows_in = sum(int(figures.pop("rows_in")) for figures in expected.values())
        silver_key = contract.of(silver).key
        outputs = run.write(
            _by_day(transforms.daily_balju, balju, days),
            silver,
            days,
            {**_zero_if_none(ORDERS_SILVER), **gates.key_count(silver_key)},
        )
        found = {o.day: o.found for o in outputs}
        run.check(
            [
                *[
                    result
                    for day in days
                    for result in gates.match_totals(silver.name, day, expected[day], found[day])
                ],
                *gates.primary_keys(found, silver.name, silver_key, days),
            ]
        )
        with run.phase("publish"):
            run.publish(outputs)
    finally:
        balju.unpersist()
    return _result("s2s:dailybalju", rows_in, outputs, time.monotonic() - started, plan)


# The balju gate: non-cancelled raw orders against the silver day's totals; and the raw rows.
_KEPT = "FILTER (WHERE NOT (status <=> 'CANCELLED'))"
ORDERS_RAW = {
    "rows_in": "count(1)",
    "order_lines": f"count(1) {_KEPT}",
    "order_qty": f"sum(order_qty) {_KEPT}",
    "order_amount": f"sum(order_qty * unit_cost) {_KEPT}",
}
ORDERS_SILVER = {
    "order_lines": "sum(order_lines)",
    "order_qty": "sum(order_qty)",
    "order_amount": "sum(order_amount)",
}
# The sales gates: the raw day's totals, taken store by store with each store's receipts, and
# which of them each silver table must reproduce.
SALES_RAW: dict[str, gates.Figure] = {
    "rows_in": "count(1)",
    "sales_qty": "sum(qty)",
    "return_qty": "sum(CASE WHEN qty < 0 THEN -qty ELSE 0 END)",
    # money summed in whole cents, proven exact in the same pass (gates.CentsSum)
    "gross_amount": gates.CentsSum("unit_price", factor="qty"),
    "discount_amount": gates.CentsSum("discount_amt"),
    "receipts": "count(DISTINCT receipt_no)",
    # the largest line, for the silver tables' `transforms.cents_are_exact` (abs of an int
    # -2**31 stays negative)
    "max_qty": "max(abs(CAST(qty AS bigint)))",
    "max_price": gates.LargestMoney("unit_price"),
    "max_discount": gates.LargestMoney("discount_amt"),
    # the items' range, for the item table's key counted by words (`_item_keys`)
    "low_item": "min(item_id)",
    "high_item": "max(item_id)",
}
_LARGEST = ("max_qty", "max_price", "max_discount")
_ITEMS = ("low_item", "high_item")
SALES_TOTALS_OF = {
    tables.SILVER_DAILYSALES_ITEM.name: (
        "sales_qty", "return_qty", "gross_amount", "discount_amount", "net_amount",
    ),
    tables.SILVER_DAILYSALES_STORE.name: (
        "sales_qty", "gross_amount", "discount_amount", "net_amount",
    ),
    tables.SILVER_DAILYSALES_HOURLY.name: ("sales_qty", "net_amount"),
}  # fmt: skip
# the store table's receipts, store by store, as the read-back collects them
RECEIPTS_WRITTEN = {"receipts": "collect_list(struct(store_id, receipt_count))"}


def _zero_if_none(expressions: dict[str, str]) -> dict[str, str]:
    """A day without rows sums to 0 on both sides, not to null on one and 0 on the other."""
    return {name: f"coalesce({sql}, 0)" for name, sql in expressions.items()}


def build_dailysales(run: Run, asked: DayRange, window: Sequence[date] = ()) -> list[StepResult]:
    """s2s: the published sales lines of `asked` into the item, store and hourly silver tables,
    with every day of the look-back `window` whose raw day was republished since its build.

    The raw rows by day and store give the gates' raw side (`_raw_sales_figures`). The item
    table groups the lines by (store, item); the store and hourly tables share one grouping of
    the lines by receipt (`transforms.receipts_by_hours`), the hourly table from the lines
    instead when a receipt's lines fall in more than one hour. Each table is
    read back once after its write, for its rows, totals, keys (and the store table's
    receipts). All three are written and checked before any is
    published; then they are published back to back, so a reader never sees some at the new
    totals and others at the old.
    """
    raw_table = tables.FACTDATA["sales"]
    silver_tables = (
        tables.SILVER_DAILYSALES_ITEM,
        tables.SILVER_DAILYSALES_STORE,
        tables.SILVER_DAILYSALES_HOURLY,
    )
    with run.phase("prepare"):
        run.prepare([raw_table, *silver_tables])
    with run.phase("read"):
        plan = restate.rebuild_plan(run, raw_table, silver_tables, asked.days, window)
        days = _plan(run, plan)
        # not cached: four column-pruned scans of the Parquet files cost less than building
        # an in-memory copy of every column (measured: bench-steps, 1,000,000 lines). The
        # money is read as the cents the files hold, for the raw side and the tables alike
        # (`gates.read_in_cents`; measured in one warm session, ten million lines: the raw
        # figures 3.9-4.0 s against 5.1 s, the three tables 3.3 s less together).
        sales = _raw_days(
            run, raw_table, silver_tables, days, in_cents=gates.cents_columns(SALES_RAW)
        )
    with run.phase("raw figures"):
        raw = _raw_sales_figures(sales, days)
    # The silver tables sum money in whole cents when no sum can pass a 64-bit integer; the
    # gates still compare them with the raw side's decimal sums.
    cents = transforms.cents_are_exact(raw.rows, *raw.largest)
    log.info("silver sums in %s", "whole cents" if cents else "decimals (too large for cents)")
    session_partitions = int(run.lake.spark.conf.get(SHUFFLE_PARTITIONS) or 200)  # Spark's default
    partitions = item_partitions(raw.rows, session_partitions)
    # the store and hourly tables from one aggregation of the lines by receipt, kept (a few rows
    # per store and day) for both. A one-day run's day is added to each table after it, as a
    # constant (`_by_day`): kept with the receipts, it would be a column, and the write's look
    # for rows of another day would aggregate the table once more (`Lake._write_day`).
    receipts = transforms.receipts_by_hours(sales, _day_column(days), cents).cache()

    def hourly() -> DataFrame:
        if transforms.outside_one_hour(receipts).isEmpty():
            build = transforms.daily_sales_by_hour_from
            return _by_day(functools.partial(build, cents=cents), receipts, days)
        log.info("a receipt's lines fall in more than one hour: the hourly table from the lines")
        return _by_day(functools.partial(transforms.daily_sales_by_hour, cents=cents), sales, days)

    builds: dict[str, Callable[[], DataFrame]] = {
        tables.SILVER_DAILYSALES_ITEM.name: lambda: _by_day(
            functools.partial(transforms.daily_sales_by_item, cents=cents, partitions=partitions),
            sales,
            days,
        ),
        tables.SILVER_DAILYSALES_STORE.name: lambda: _by_day(
            functools.partial(transforms.daily_sales_by_store_from, cents=cents), receipts, days
        ),
        tables.SILVER_DAILYSALES_HOURLY.name: hourly,
    }
    written_by_table: list[list[Output]] = []
    seconds: list[float] = []
    try:
        for table in silver_tables:
            started = time.monotonic()
            df = builds[table.name]()
            names = SALES_TOTALS_OF[table.name]
            key = contract.of(table).key
            keys = (
                _item_keys(key, raw)
                if table is tables.SILVER_DAILYSALES_ITEM
                else gates.key_count(key)
            )
            figures = {**_zero_if_none({n: f"sum({n})" for n in names}), **keys}
            if table is tables.SILVER_DAILYSALES_STORE:
                figures.update(RECEIPTS_WRITTEN)
            outputs = run.write(df, table, days, figures)
            found = {o.day: o.found for o in outputs}
            run.check(
                [
                    *[
                        result
                        for day in days
                        for result in gates.match_totals(
                            table.name, day, {n: raw.totals[day][n] for n in names}, found[day]
                        )
                    ],
                    *gates.primary_keys(found, table.name, key, days),
                ]
            )
            if table is tables.SILVER_DAILYSALES_STORE:
                run.check(
                    [
                        gates.GateResult(
                            "AggregateMatch",
                            table.name,
                            day,
                            "receipt_count by store",
                            raw.receipts[day],
                            {store: n for store, n in found[day]["receipts"]},
                        )
                        for day in days
                    ]
                )
            written_by_table.append(outputs)
            seconds.append(time.monotonic() - started)
    finally:
        receipts.unpersist()
    with run.phase("publish"):
        run.publish([o for outputs in written_by_table for o in outputs])
    return [
        _result(f"s2s:{t.name.removeprefix('silver_')}", raw.rows, outputs, s, plan)
        for t, outputs, s in zip(silver_tables, written_by_table, seconds, strict=True)
    ]


SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
# The item table's lines per partition on a big day (`transforms.daily_sales_by_item`): measured
# in one warm session, the table computed without its write, ten million lines shuffled into
# 8 partitions (which AQE coalesced to 4) 10.4 s, 16: 9.2 s, 32: 8.4 s, 64: 8.1 s; a million
# lines 1.15-1.29 s in 8, 1.14-1.16 s in 16, 1.41 s in 64.
LINES_PER_ITEM_PARTITION = 250_000


def item_partitions(lines: int, session_partitions: int) -> int | None:
    """The partitions to shuffle the item table's `lines` into: one per
    LINES_PER_ITEM_PARTITION when that is more than the session's shuffle partitions, else
    None, the session's own (which AQE may coalesce on a small day)."""
    wanted = -(-lines // LINES_PER_ITEM_PARTITION)
    return wanted if wanted > session_partitions else None


class RawSales(NamedTuple):
    """The sales s2s's raw side (`_raw_sales_figures`)."""

    rows: int  # the lines read
    totals: dict[date, dict[str, Any]]  # each day's
    receipts: dict[date, dict[Any, int]]  # each day's stores' distinct receipts
    largest: list[Any]  # |qty|, |unit_price|, |discount_amt| of any line, 0 where none
    items: tuple[int, int] | None  # the lowest and highest item_id of any line
    stores: int  # the (day, store) groups of the lines


# The item table's key is counted by words of item_id within each store while the words, at
# most (day, store) groups x the items' span / 64, are no more than the lines / this. The table's
# rows are not known before its read-back, only that they are at most the lines: this bounds
# what words in vain cost on a day of sparse items. Measured in one warm session, ten million
# lines, the item table's read-back: 1.0-1.1 s by words against 1.4-1.8 s by `count(DISTINCT)`
# on the sample's dense items (200 stores, 5,000 items: 15,800 words); 3.4-4.0 s against
# 2.1-2.6 s when the words are as many as the rows (items 64 apart: a million words, refused
# here, as more than 625,000).
LINES_PER_ITEM_WORD = 16


def _item_keys(key: Sequence[str], raw: RawSales) -> dict[str, gates.Figure]:
    """The item table's `key_count`: (store_id, item_id) by words of item_id within each store,
    in the raw lines' range of items, when those words are few against the lines."""
    return gates.key_count(key, raw.items, raw.rows // LINES_PER_ITEM_WORD, raw.stores)


def _raw_sales_figures(sales: DataFrame, days: Sequence[date]) -> RawSales:
    """The gates' raw side, from the raw rows by day and store (`gates.totals_by_group`: the
    sums in one pass, the distinct receipts in another): the rows read, each day's totals (its
    stores' sums added up here, exactly: ints and Decimals; 0 for a day or store without any),
    each store's distinct receipts, the largest |qty|, |unit_price| and |discount_amt| of any
    line (0 where none), the items' range and the stores.

    The money is summed in whole cents (`gates.CentsSum`; measured in one warm session, ten
    million lines: the sums 1.7-1.9 s in cents, 3.5-4.9 s in decimals). The silver tables sum
    in cents too (`transforms._line_sums`), but from their own groupings of the lines; what
    the gate compares is two computations from the raw rows.
    """
    names = [n for n in SALES_RAW if n not in ("rows_in", "receipts", *_LARGEST, *_ITEMS)]
    largest: list[Any] = [0, 0, 0]
    totals: dict[date, dict[str, Any]] = {d: dict.fromkeys(names, 0) for d in days}
    receipts: dict[date, dict[Any, int]] = {d: {} for d in days}
    rows_in = 0
    # one day (every night): the rows read are that day's folder's, so the lines are grouped
    # by store alone, no day hashed with each (measured in one warm session, ten million
    # lines: 4.2-4.5 s against 4.7-5.2 s)
    by_day = _day_column(days)
    one_day = not by_day
    keys = [*by_day, "store_id"]
    by_store = gates.totals_by_group(sales, keys, SALES_RAW)
    for row in by_store.values():
        rows_in += row["rows_in"]
        largest = [max(m, row[n] or 0) for m, n in zip(largest, _LARGEST, strict=True)]
    for group, row in by_store.items():
        day, store = (days[0] if one_day else date.fromisoformat(group[0])), group[-1]
        receipts[day][store] = row["receipts"]
        for name in names:
            totals[day][name] += row[name] or 0
    for day_totals in totals.values():
        day_totals["net_amount"] = day_totals["gross_amount"] - day_totals["discount_amount"]
    lows = [row["low_item"] for row in by_store.values() if row["low_item"] is not None]
    highs = [row["high_item"] for row in by_store.values() if row["high_item"] is not None]
    items = (min(lows), max(highs)) if lows else None
    return RawSales(rows_in, totals, receipts, largest, items, len(by_store))


def _by_day(
    build: Callable[[DataFrame, Sequence[str]], DataFrame], raw: DataFrame, days: Sequence[date]
) -> DataFrame:
    """A silver transform over the raw rows of `days` (or over rows grouped from them, by the
    day too over several days, as `transforms.receipts_by_hours`), each silver row with its day
    last.

    Over several days the day is one more grouping column. One day (every nightly run) is a
    constant instead: a grouping column less, and the write does not sort the rows by it.
    """
    if by := _day_column(days):
        return build(raw, by)
    return build(raw, []).withColumn(PARTITION_COLUMN, F.lit(days[0].isoformat()))


def _day_column(days: Sequence[date]) -> list[str]:
    """The day as a grouping column over several `days`; none for one day, whose rows are all
    that day's (`_by_day` adds it after, as a constant)."""
    return [PARTITION_COLUMN] if len(days) > 1 else []


def _plan(run: Run, plan: Sequence[restate.Decision]) -> list[date]:
    """Keep a step's decisions in its record and say which days it restates; the days it
    writes."""
    run.decisions += plan
    if restated := restate.summary(plan):
        log.info("%s: %s", ", ".join(sorted({d.table for d in plan})), restated)
    return restate.days_to_write(plan)


def _raw_days(
    run: Run,
    table: LakeTable,
    silver_tables: Sequence[LakeTable],
    days: Sequence[date],
    in_cents: Sequence[str] = (),
) -> DataFrame:
    """The published raw days, each row with its `extract_date`, the money columns `in_cents`
    as whole cents where the files allow (`gates.read_in_cents`); no rows, in the contract's
    shape, when none of the days has any.

    Which raw run each day comes from goes into the run's record (`built_from`) for the next
    look-back, from the same lookup of the published days the read uses.
    """
    locations = run.published(table, days)
    sources = restate.published_runs(run, table, days, locations)
    for silver in silver_tables:
        run.built_from.setdefault(silver.name, {}).update(
            {day.isoformat(): sources.get(day) for day in days}
        )
    df = run.read_published(table, days, locations, in_cents)
    if df is None:
        log.warning(
            "%s has no published rows for %s; the silver days will be empty",
            table.name,
            _list_days(days),
        )
        return run.lake.spark.createDataFrame(
            [], f"{contract.of(table).ddl}, `{PARTITION_COLUMN}` string"
        )
    return df


def _list_days(days: Sequence[date]) -> str:
    shown = ", ".join(d.isoformat() for d in days[:5])
    return shown + (f" and {len(days) - 5} more days" if len(days) > 5 else "")


def _result(
    step: str,
    rows_in: int | None,
    outputs: Sequence[Output],
    seconds: float,
    plan: Sequence[restate.Decision] = (),
) -> StepResult:
    rows = sum(o.rows for o in outputs)
    written = [o.location for o in outputs if o.location]
    # one day: its folder; several: the run's folder that holds them
    location = (
        written[0]
        if len(written) == 1
        else ", ".join(sorted({w.rsplit("/", 1)[0] for w in written}))
    )
    return StepResult(
        step=step,
        rows_in=rows_in,
        rows_out=rows,
        seconds=seconds,
        location=location,
        note="no rows: published empty" if rows == 0 else "",
        rows_by_day={o.day: o.rows for o in outputs},
        restated=restate.summary(plan),
    )
