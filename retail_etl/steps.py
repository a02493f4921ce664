"""What each Glue job does, as functions of a Spark session, the source and the lake."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession

from retail_etl import lake as tables
from retail_etl import source, transforms
from retail_etl.lake import Lake, LakeTable, WriteResult
from retail_etl.settings import SourceDb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """One step's outcome, as the summary shows it."""

    step: str
    table: str
    rows_in: int | None
    rows_out: int
    seconds: float
    location: str
    note: str = ""


def extract_day(
    spark: SparkSession, source_db: SourceDb, lake: Lake, target: str, day: date
) -> StepResult:
    """d2s: copy business day `day` of `target` from PostgreSQL into `factdata/<target>/`."""
    started = time.monotonic()
    fact = source.FACT_TABLES[target]
    extent = source.day_extent(spark, source_db, fact, day)
    if extent.rows == 0:
        log.warning(
            "%s has no rows for %s; removing any earlier extract of that day", fact.name, day
        )
    rows = source.read_day(spark, source_db, fact, day, extent).transform(
        transforms.with_extracted_at(datetime.now(UTC))
    )
    written = lake.write_day(rows, tables.FACTDATA[target], day)
    if written.rows != extent.rows:
        # The source changed between the count and the read: say so rather than hide it.
        log.warning("%s: counted %d rows, then read %d", fact.name, extent.rows, written.rows)
    return _result(f"d2s:{target}", extent.rows, written, started)


def build_dailybalju(lake: Lake, day: date) -> StepResult:
    """s2s: the day's purchase orders into `silver/dailybalju/`."""
    started = time.monotonic()
    balju = _raw_day(lake, "balju", day)
    written = lake.write_day(transforms.daily_balju(balju), tables.SILVER_DAILYBALJU, day)
    return _result("s2s:dailybalju", balju.count(), written, started)


def build_dailysales(lake: Lake, day: date) -> list[StepResult]:
    """s2s: the day's sales lines into the item, store and hourly silver tables.

    The raw day is cached once and feeds all three aggregates.
    """
    sales = _raw_day(lake, "sales", day).cache()
    outputs: list[tuple[str, LakeTable, DataFrame]] = [
        (
            "s2s:dailysales_item",
            tables.SILVER_DAILYSALES_ITEM,
            transforms.daily_sales_by_item(sales),
        ),
        (
            "s2s:dailysales_store",
            tables.SILVER_DAILYSALES_STORE,
            transforms.daily_sales_by_store(sales),
        ),
        (
            "s2s:dailysales_hourly",
            tables.SILVER_DAILYSALES_HOURLY,
            transforms.daily_sales_by_hour(sales),
        ),
    ]
    try:
        rows_in = sales.count()
        results = []
        for step, table, df in outputs:
            started = time.monotonic()
            results.append(_result(step, rows_in, lake.write_day(df, table, day), started))
        return results
    finally:
        sales.unpersist()


def _raw_day(lake: Lake, target: str, day: date) -> DataFrame:
    """The day's raw partition; no rows, in the contract's shape, when d2s found none."""
    table = tables.FACTDATA[target]
    df = lake.read_day(table, day)
    if df is None:
        log.warning("%s has no partition for %s; the silver day will be empty", table.name, day)
        return lake.spark.createDataFrame([], RAW_SCHEMAS[target])
    return df


# The raw tables as the source contract types them, plus `_extracted_at`.
RAW_SCHEMAS = {
    "balju": (
        "balju_id bigint, balju_date date, store_id int, item_id int, supplier_id int, "
        "order_qty int, unit_cost decimal(12,2), status string, created_at timestamp, "
        "updated_at timestamp, _extracted_at timestamp"
    ),
    "sales": (
        "sale_id bigint, receipt_no string, sold_at timestamp, store_id int, item_id int, "
        "qty int, unit_price decimal(12,2), discount_amt decimal(12,2), payment_method string, "
        "_extracted_at timestamp"
    ),
}


def _result(step: str, rows_in: int | None, written: WriteResult, started: float) -> StepResult:
    return StepResult(
        step=step,
        table=written.table.name,
        rows_in=rows_in,
        rows_out=written.rows,
        seconds=time.monotonic() - started,
        location=written.location,
        note="no rows: the day has no partition" if written.rows == 0 else "",
    )
