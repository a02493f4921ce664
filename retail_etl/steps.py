"""What each Glue job does: write a run's days, check them with the gates, publish them.

Every step is write -> audit -> publish: it writes into its run's own folder, checks what it
wrote against the source (d2s) or the raw day (s2s), and only then switches the catalog.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_etl import contract, gates, source, transforms
from retail_etl import lake as tables
from retail_etl.audit import Run
from retail_etl.errors import SourceUnavailableError
from retail_etl.lake import LakeTable
from retail_etl.publish import Output
from retail_etl.settings import SourceDb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """One step's outcome, as the summary shows it."""

    step: str
    rows_in: int | None
    rows_out: int
    seconds: float
    location: str
    note: str = ""


def extract_day(
    spark: SparkSession, source_db: SourceDb, run: Run, target: str, day: date
) -> StepResult:
    """d2s: business day `day` of `target`, as of one snapshot of PostgreSQL, into the raw table.

    The gates compare what was written with the snapshot's own count, control sums and key.
    """
    started = time.monotonic()
    fact = source.FACT_TABLES[target]
    table = tables.FACTDATA[target]
    run.prepare([table])
    with source.SourceSnapshot(spark, source_db) as snapshot:
        extent = source.day_extent(snapshot, fact, day)
        if extent.rows == 0:
            log.warning("%s has no rows for %s; the day will be published empty", fact.name, day)
        rows = source.read_day(spark, snapshot, fact, day, extent).transform(
            transforms.with_extracted_at(datetime.now(UTC))
        )
        try:
            output = run.write(rows, table, day)  # the read happens here, inside the snapshot
        except Exception as err:
            reason = source.driver_failure(err)
            if reason is None:
                raise
            raise SourceUnavailableError(
                f"reading {fact.name} from PostgreSQL at {source_db.where} failed: {reason}"
            ) from None
    run.check(
        gates.raw_day_gates(
            run.written(output),
            table.name,
            contract.of(table).key,
            day,
            extent.rows,
            extent.sums,
            fact.control_sums,
        )
    )
    run.publish([output])
    return _result(f"d2s:{target}", extent.rows, output, time.monotonic() - started)


def build_dailybalju(run: Run, day: date) -> StepResult:
    """s2s: the day's published purchase orders into `silver_dailybalju`."""
    started = time.monotonic()
    raw_table, silver = tables.FACTDATA["balju"], tables.SILVER_DAILYBALJU
    run.prepare([raw_table, silver])
    balju = _raw_day(run, raw_table, day).cache()  # read once: counted, aggregated, checked
    try:
        rows_in = balju.count()
        output = run.write(transforms.daily_balju(balju), silver, day)
        written = run.written(output)
        kept = balju.where(~F.col("status").eqNullSafe(F.lit("CANCELLED")))
        run.check(
            [
                *gates.match_totals(
                    silver.name,
                    day,
                    gates.totals(kept, _zero_if_none(ORDERS_RAW)),
                    gates.totals(written, _zero_if_none(ORDERS_SILVER)),
                ),
                gates.primary_key(written, silver.name, contract.of(silver).key, day),
            ]
        )
        run.publish([output])
    finally:
        balju.unpersist()
    return _result("s2s:dailybalju", rows_in, output, time.monotonic() - started)


# The balju gate: non-cancelled raw orders against the silver day's totals.
ORDERS_RAW = {
    "order_lines": "count(1)",
    "order_qty": "sum(order_qty)",
    "order_amount": "sum(order_qty * unit_cost)",
}
ORDERS_SILVER = {
    "order_lines": "sum(order_lines)",
    "order_qty": "sum(order_qty)",
    "order_amount": "sum(order_amount)",
}
# The sales gates: the raw day's totals, and which of them each silver table must reproduce.
SALES_RAW = {
    "sales_qty": "sum(qty)",
    "return_qty": "sum(CASE WHEN qty < 0 THEN -qty ELSE 0 END)",
    "gross_amount": "sum(qty * unit_price)",
    "discount_amount": "sum(discount_amt)",
}
SALES_TOTALS_OF = {
    tables.SILVER_DAILYSALES_ITEM.name: (
        "sales_qty", "return_qty", "gross_amount", "discount_amount", "net_amount",
    ),
    tables.SILVER_DAILYSALES_STORE.name: (
        "sales_qty", "gross_amount", "discount_amount", "net_amount",
    ),
    tables.SILVER_DAILYSALES_HOURLY.name: ("sales_qty", "net_amount"),
}  # fmt: skip


def _zero_if_none(expressions: dict[str, str]) -> dict[str, str]:
    """A day without rows sums to 0 on both sides, not to null on one and 0 on the other."""
    return {name: f"coalesce({sql}, 0)" for name, sql in expressions.items()}


def build_dailysales(run: Run, day: date) -> list[StepResult]:
    """s2s: the day's published sales lines into the item, store and hourly silver tables.

    All three are written and checked before any is published; then they are published back
    to back, so a reader never sees some at the new totals and others at the old.
    """
    raw_table = tables.FACTDATA["sales"]
    silver_tables = (
        tables.SILVER_DAILYSALES_ITEM,
        tables.SILVER_DAILYSALES_STORE,
        tables.SILVER_DAILYSALES_HOURLY,
    )
    run.prepare([raw_table, *silver_tables])
    sales = _raw_day(run, raw_table, day).cache()
    try:
        rows_in = sales.count()
        raw_totals = gates.totals(sales, _zero_if_none(SALES_RAW))
        raw_totals["net_amount"] = raw_totals["gross_amount"] - raw_totals["discount_amount"]
        builds = (
            transforms.daily_sales_by_item(sales),
            transforms.daily_sales_by_store(sales),
            transforms.daily_sales_by_hour(sales),
        )
        outputs: list[Output] = []
        seconds: list[float] = []
        for table, df in zip(silver_tables, builds, strict=True):
            started = time.monotonic()
            output = run.write(df, table, day)
            written = run.written(output)
            names = SALES_TOTALS_OF[table.name]
            run.check(
                [
                    *gates.match_totals(
                        table.name,
                        day,
                        {n: raw_totals[n] for n in names},
                        gates.totals(written, _zero_if_none({n: f"sum({n})" for n in names})),
                    ),
                    gates.primary_key(written, table.name, contract.of(table).key, day),
                ]
            )
            if table is tables.SILVER_DAILYSALES_STORE:
                run.check([_receipts_per_store(sales, written, table, day)])
            outputs.append(output)
            seconds.append(time.monotonic() - started)
        run.publish(outputs)
        return [
            _result(f"s2s:{o.table.name.removeprefix('silver_')}", rows_in, o, s)
            for o, s in zip(outputs, seconds, strict=True)
        ]
    finally:
        sales.unpersist()


def _receipts_per_store(
    sales: DataFrame, written: DataFrame, table: LakeTable, day: date
) -> gates.GateResult:
    """AggregateMatch of distinct receipts, store by store."""
    expected = {
        r[0]: r[1] for r in sales.groupBy("store_id").agg(F.countDistinct("receipt_no")).collect()
    }
    found = {r[0]: r[1] for r in written.select("store_id", "receipt_count").collect()}
    return gates.GateResult(
        "AggregateMatch", table.name, day, "receipt_count by store", expected, found
    )


def _raw_day(run: Run, table: LakeTable, day: date) -> DataFrame:
    """The published raw day; no rows, in the contract's shape, when the day has none."""
    df = run.read_published(table, day)
    if df is None:
        log.warning(
            "%s has no published rows for %s; the silver day will be empty", table.name, day
        )
        return run.lake.spark.createDataFrame([], contract.of(table).ddl)
    return df


def _result(step: str, rows_in: int | None, output: Output, seconds: float) -> StepResult:
    return StepResult(
        step=step,
        rows_in=rows_in,
        rows_out=output.rows,
        seconds=seconds,
        location=output.location,
        note="no rows: the day is published empty" if output.rows == 0 else "",
    )
