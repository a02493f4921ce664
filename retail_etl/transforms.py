"""Pure silver transforms: DataFrames in, DataFrames out, no reads, writes or sessions.

Definitions follow the lake contract in DESIGN.md. Money stays decimal: Spark widens the
precision of decimal sums and products instead of falling back to float.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

from pyspark.sql import Column, DataFrame, GroupedData
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


# Money in whole cents: every money column of the sales lines is decimal(12,2), two places.
CENTS_PER_UNIT = 100
LONG_MAX = 2**63 - 1  # Spark's long; its arithmetic wraps silently outside ANSI mode


def cents_fit(rows: int, largest_money: Decimal | None, largest_factor: int | None = 1) -> bool:
    """Whether 64-bit sums of `rows` values factor x money in whole cents are exact, when no
    |money| passes `largest_money` and no |factor| `largest_factor`. Every partial sum Spark
    keeps is at most the sum of all absolute values, so none can pass 2**63 - 1 (Spark's long
    arithmetic wraps silently outside ANSI mode) when rows x the largest value does not."""
    cents = int(CENTS_PER_UNIT * (largest_money or 0))  # Decimal: exact
    return rows * abs(int(largest_factor or 0)) * cents <= LONG_MAX


def cents_are_exact(
    rows: int, max_qty: int | None, max_price: Decimal | None, max_discount: Decimal | None
) -> bool:
    """Whether sums of a day's money in whole cents as 64-bit integers are exact (`cents_fit`):
    `rows` lines whose |qty|, |unit_price| and |discount_amt| are at most these maxima."""
    return cents_fit(rows, max_price, max_qty) and cents_fit(rows, max_discount)


MONEY = DecimalType(12, 2)  # the sales lines' money columns


def _money(sales: DataFrame, column: str, cents: bool) -> Column:
    """The money column `column` of `sales` in whole cents as a long (`cents`) or as the
    contract's decimal(12,2), whichever way it was read: as that decimal, or as the cents the
    files hold (a bigint, `gates.read_in_cents`), which spares every line a decimal multiply
    (measured in one warm session, ten million lines, computed without writes: the item table
    7.5-7.7 s against 8.6-9.1 s, the store and hourly tables 0.7-0.8 s less each)."""
    read_in_cents = dict(sales.dtypes)[column] == "bigint"
    money = F.col(column)
    if cents:
        return money if read_in_cents else (money * CENTS_PER_UNIT).cast("long")
    return (money.cast(DecimalType(20, 0)) / CENTS_PER_UNIT).cast(MONEY) if read_in_cents else money


def _from_cents(cents: Column, type_: DecimalType) -> Column:
    """A sum of whole cents back as the decimal Spark's own decimal sum would have typed."""
    return (cents.cast(DecimalType(38, 0)) / CENTS_PER_UNIT).cast(type_)


# The decimal types of Spark's sums of decimal(12,2) (the silver contract's money columns).
GROSS_AMOUNT = DecimalType(33, 2)  # sum(int x decimal(12,2))
DISCOUNT_AMOUNT = DecimalType(22, 2)  # sum(decimal(12,2))


def _line_sums(sales: DataFrame, cents: bool) -> list[Column]:
    """The sums of a group of sales lines: sales_qty, return_qty, gross_amount and
    discount_amount, the money in whole cents (`cents`) or in Spark's decimals, not yet typed as
    the silver contract's (`_totals`). The money columns may come as decimals or as whole cents
    (`_money`)."""
    returned = F.when(F.col("qty") < 0, -F.col("qty")).otherwise(F.lit(0))
    return [
        F.sum("qty").alias("sales_qty"),
        F.sum(returned).alias("return_qty"),
        F.sum(F.col("qty") * _money(sales, "unit_price", cents)).alias("gross_amount"),
        F.sum(_money(sales, "discount_amt", cents)).alias("discount_amount"),
    ]


_SUMS = ("sales_qty", "return_qty", "gross_amount", "discount_amount")


def _totals(groups: GroupedData, cents: bool, receipts: Column) -> DataFrame:
    """Per group of `groups`, rows that hold `_line_sums` of a finer grouping: the sums added up,
    the money typed as one sum of the lines would be (a sum of sums widens the decimal again),
    no discount as 0, net_amount, and receipt_count, `receipts` of the finer rows."""

    def money(total: Column, type_: DecimalType) -> Column:
        return _from_cents(total, type_) if cents else total.cast(type_)

    return groups.agg(
        F.sum("sales_qty").alias("sales_qty"),
        F.sum("return_qty").alias("return_qty"),
        money(F.sum("gross_amount"), GROSS_AMOUNT).alias("gross_amount"),
        F.coalesce(
            money(F.sum("discount_amount"), DISCOUNT_AMOUNT), F.lit(0).cast(DISCOUNT_AMOUNT)
        ).alias("discount_amount"),
        receipts.alias("receipt_count"),
    ).withColumn("net_amount", F.col("gross_amount") - F.col("discount_amount"))


def _with_receipts(sales: DataFrame, keys: Sequence[str], cents: bool) -> DataFrame:
    """Per group of `sales` by `keys`: sales_qty, return_qty, gross_amount, discount_amount
    (0 where none), net_amount and receipt_count, the group's distinct non-null receipts.

    Two aggregations: by the keys and the receipt, then by the keys, counting the receipts and
    adding up the sums. Spark's own plan for a distinct count beside sums does the same
    grouping but carries every sum's buffer through an expansion of the rows; a distinct count
    apart from the sums takes a third pass. `cents`: the money is summed in whole cents as
    64-bit integers, which only a caller that has checked `cents_are_exact` may ask for
    (measured, warm, ten million lines: the item table 21.0 s apart in decimals, 12.2 s in
    two levels in cents, 21.1 s in two levels in decimals); otherwise in Spark's decimals.
    """
    by_receipt = sales.groupBy(*keys, "receipt_no").agg(*_line_sums(sales, cents))
    return _totals(by_receipt.groupBy(*keys), cents, F.count("receipt_no"))  # nulls not counted


def daily_sales_by_item(
    sales: DataFrame, by: Sequence[str] = (), cents: bool = False, partitions: int | None = None
) -> DataFrame:
    """Sales per (store, item): quantities net of returns, returns apart, amounts and receipts
    (`by`: as in `daily_balju`; `cents`: as in `_with_receipts`; `partitions`: how many
    partitions the lines are shuffled into, by default the session's shuffle partitions).

    The lines are shuffled by (store, item) before both levels. A receipt seldom holds an item
    on two lines, so the first level, by (store, item, receipt), merges almost nothing: Spark's
    partial aggregation before its shuffle hashed every line to shuffle as many rows again, and
    the second level shuffled once more. Clustered by (store, item), both levels run after one
    shuffle of the lines (measured in one warm session, ten million lines, the table computed
    without its write: 10.0-12.9 s against 15.8-18.8 s). The store and hourly tables' first
    levels merge lines of a receipt, so there the partial aggregation pays (4.0-5.5 s against
    5.7-6.9 s for the store table shuffled by store first).

    Both levels hash about as many rows as there are lines, so each partition's hash tables grow
    with the lines it gets: a big day gains from more partitions than a small one needs
    (`steps.item_partitions`).
    """
    keys = ["store_id", "item_id", *by]
    clustered = (
        sales.repartition(*keys) if partitions is None else sales.repartition(partitions, *keys)
    )
    return _with_receipts(clustered, keys, cents).select(
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


def receipts_by_hours(sales: DataFrame, by: Sequence[str] = (), cents: bool = False) -> DataFrame:
    """A day's receipts per store, grouped by the first and the last hour their lines fall in
    (`_hour`; -1 for a line without `sold_at`): per (store_id, first_hour, last_hour, *by),
    the receipts' `_line_sums` added up (not yet typed as the contract's) and receipt_count,
    its receipts (a store's lines without a receipt are one group, not counted).

    The store and hourly tables both from one aggregation of the lines by receipt, into a
    handful of rows per store (`daily_sales_by_store_from`, `daily_sales_by_hour_from`): a
    receipt's lines are rung up at once, so its first hour is its last, and its receipt is
    counted in that hour. Measured in one warm session, ten million lines, the two tables
    computed without their writes: 4.9-5.6 s against 7.9-8.4 s from two aggregations of the
    lines, by (store, receipt) and by (store, hour, receipt).
    """
    hour = F.coalesce(_hour(), F.lit(-1))
    by_receipt = sales.groupBy("store_id", "receipt_no", *by).agg(
        *_line_sums(sales, cents),
        F.min(hour).alias("first_hour"),
        F.max(hour).alias("last_hour"),
    )
    return by_receipt.groupBy("store_id", "first_hour", "last_hour", *by).agg(
        *[F.sum(name).alias(name) for name in _SUMS],
        F.count("receipt_no").alias("receipt_count"),
    )


def outside_one_hour(receipts: DataFrame) -> DataFrame:
    """The rows of `receipts_by_hours` whose receipts' lines do not all fall in one hour of
    the day: with any, `daily_sales_by_hour_from` does not apply (`daily_sales_by_hour`
    does)."""
    return receipts.where((F.col("first_hour") != F.col("last_hour")) | (F.col("first_hour") < 0))


def daily_sales_by_store_from(
    receipts: DataFrame, by: Sequence[str] = (), cents: bool = False
) -> DataFrame:
    """Sales per store from `receipts_by_hours` (`cents`: as that was built), with the average
    net amount of a receipt (rounded half up to cents)."""
    return (
        _totals(receipts.groupBy("store_id", *by), cents, F.sum("receipt_count"))
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


def daily_sales_by_store(
    sales: DataFrame, by: Sequence[str] = (), cents: bool = False
) -> DataFrame:
    """Sales per store, with the average net amount of a receipt (rounded half up to cents)
    (`by`: as in `daily_balju`; `cents`: as in `_with_receipts`)."""
    return daily_sales_by_store_from(receipts_by_hours(sales, by, cents), by, cents)


def daily_sales_by_hour_from(
    receipts: DataFrame, by: Sequence[str] = (), cents: bool = False
) -> DataFrame:
    """`daily_sales_by_hour` from `receipts_by_hours` (`cents`: as that was built), when no
    receipt's lines fall outside one hour (`outside_one_hour` has no rows): each receipt
    counted, and its sums added, in its hour."""
    within = receipts.withColumnRenamed("first_hour", "sale_hour")
    return _totals(
        within.groupBy("store_id", "sale_hour", *by), cents, F.sum("receipt_count")
    ).select("store_id", "sale_hour", "sales_qty", "net_amount", "receipt_count", *by)


def daily_sales_by_hour(sales: DataFrame, by: Sequence[str] = (), cents: bool = False) -> DataFrame:
    """Sales per (store, hour of `sold_at`): quantity, net amount and receipts in that hour,
    from the lines, whatever hours a receipt's lines fall in."""
    return _with_receipts(
        sales.withColumn("sale_hour", _hour()), ["store_id", "sale_hour", *by], cents
    ).select("store_id", "sale_hour", "sales_qty", "net_amount", "receipt_count", *by)


def _hour() -> Column:
    """The hour of `sold_at`, the wall clock's as the lake holds it, UTC
    (`runtime.COMMON_CONF`): the microseconds since the day began (a modulo that stays positive
    before 1970) in whole hours, in integers, where `hour()` turns every line's timestamp into
    a date and time in the session's zone first (measured in one warm session, ten million
    lines, the hourly table computed without its write: 4.3-4.7 s against 4.6-5.2 s)."""
    micros_of_day = f"pmod(unix_micros(sold_at), {24 * MICROS_PER_HOUR})"
    return F.expr(f"CAST(div({micros_of_day}, {MICROS_PER_HOUR}) AS int)")


MICROS_PER_HOUR = 3_600_000_000
