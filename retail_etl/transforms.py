"""Pure silver transforms: DataFrames in, DataFrames out, no reads, writes or sessions.

Definitions follow the lake contract in DESIGN.md. Money stays decimal: Spark widens the
precision of decimal sums and products instead of falling back to float.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

AVERAGE_AMOUNT = DecimalType(20, 2)


def with_extracted_at(extracted_at: datetime) -> Callable[[DataFrame], DataFrame]:
    """Stamp raw rows with the moment they were extracted (`_extracted_at`).

    Pass an aware datetime: PySpark reads a naive one in the Python process's local zone.
    """

    def stamp(df: DataFrame) -> DataFrame:
        return df.withColumn("_extracted_at", F.lit(extracted_at).cast("timestamp"))

    return stamp


def daily_balju(balju: DataFrame, by: Sequence[str] = ()) -> DataFrame:
    """Orders per (store, item, supplier) for the day, cancelled orders left out.

    A null status is not CANCELLED, so it counts: hence the null-safe comparison. `by` names
    columns that split the rows further and are kept last, such as the business day of a
    range (`extract_date`): each day's rows are then exactly that day's silver rows.
    """
    return (
        balju.where(~F.col("status").eqNullSafe(F.lit("CANCELLED")))
        .groupBy("store_id", "item_id", "supplier_id", *by)
        .agg(
            F.count(F.lit(1)).alias("order_lines"),
            F.sum("order_qty").alias("order_qty"),
            F.sum(F.col("order_qty") * F.col("unit_cost")).alias("order_amount"),
        )
        .select(
            "store_id", "item_id", "supplier_id", "order_lines", "order_qty", "order_amount", *by
        )
    )


def _line_amount() -> Column:
    return F.col("qty") * F.col("unit_price")


def _discount() -> Column:
    return F.coalesce(F.sum("discount_amt"), F.lit(0).cast(DecimalType(12, 2)))


def _receipts() -> Column:
    return F.countDistinct("receipt_no").alias("receipt_count")


def daily_sales_by_item(sales: DataFrame, by: Sequence[str] = ()) -> DataFrame:
    """Sales per (store, item): quantities net of returns, returns apart, amounts and receipts
    (`by`: as in `daily_balju`)."""
    return (
        sales.groupBy("store_id", "item_id", *by)
        .agg(
            F.sum("qty").alias("sales_qty"),
            F.sum(F.when(F.col("qty") < 0, -F.col("qty")).otherwise(F.lit(0))).alias("return_qty"),
            F.sum(_line_amount()).alias("gross_amount"),
            _discount().alias("discount_amount"),
            _receipts(),
        )
        .withColumn("net_amount", F.col("gross_amount") - F.col("discount_amount"))
        .select(
            "store_id",
            "item_id",
            "sales_qty",
            "return_qty",
            "gross_amount",
            "discount_amount",
            "net_amount",
            "receipt_count",
            *by,
        )
    )


def daily_sales_by_store(sales: DataFrame, by: Sequence[str] = ()) -> DataFrame:
    """Sales per store, with the average net amount of a receipt (rounded half up to cents)."""
    return (
        sales.groupBy("store_id", *by)
        .agg(
            F.sum("qty").alias("sales_qty"),
            F.sum(_line_amount()).alias("gross_amount"),
            _discount().alias("discount_amount"),
            _receipts(),
        )
        .withColumn("net_amount", F.col("gross_amount") - F.col("discount_amount"))
        .withColumn(
            "avg_receipt_amount",
            F.round(F.col("net_amount") / F.col("receipt_count"), 2).cast(AVERAGE_AMOUNT),
        )
        .select(
            "store_id",
            "sales_qty",
            "gross_amount",
            "discount_amount",
            "net_amount",
            "receipt_count",
            "avg_receipt_amount",
            *by,
        )
    )


def daily_sales_by_hour(sales: DataFrame, by: Sequence[str] = ()) -> DataFrame:
    """Sales per (store, hour of `sold_at`): quantity, net amount and receipts in that hour."""
    return (
        sales.withColumn("sale_hour", F.hour("sold_at"))
        .groupBy("store_id", "sale_hour", *by)
        .agg(
            F.sum("qty").alias("sales_qty"),
            (F.sum(_line_amount()) - _discount()).alias("net_amount"),
            _receipts(),
        )
        .select("store_id", "sale_hour", "sales_qty", "net_amount", "receipt_count", *by)
    )
