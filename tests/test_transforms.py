"""Silver transforms on small inline inputs; expected rows worked out by hand from DESIGN.md."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from conftest import sort_rows
from pyspark.sql import DataFrame
from pyspark.sql.types import DecimalType

from retail_etl import contract, gates, lake, steps, transforms

BALJU_SCHEMA = (
    "store_id int, item_id int, supplier_id int, order_qty int, unit_cost decimal(12,2), "
    "status string"
)
SALES_SCHEMA = (
    "receipt_no string, sold_at timestamp, store_id int, item_id int, qty int, "
    "unit_price decimal(12,2), discount_amt decimal(12,2)"
)

# the two plans for the distinct receipts (transforms._with_receipts), chosen by the day's size
# the money summed in whole cents (64-bit integers) or in Spark's decimals: the same rows
MONEY_PLANS = pytest.mark.parametrize("cents", [True, False], ids=["cents", "decimals"])


def rows(df: DataFrame) -> list[tuple]:
    return sort_rows(df.collect())


def assert_money_is_decimal(df: DataFrame, *columns: str) -> None:
    for column in columns:
        data_type = df.schema[column].dataType
        assert isinstance(data_type, DecimalType) and data_type.scale == 2, (column, data_type)


@pytest.fixture
def balju(spark):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [
            (1, 10, 100, 6, D("2.50"), "ORDERED"),
            (1, 10, 100, 12, D("2.50"), "CONFIRMED"),
            (1, 10, 100, 60, D("2.50"), "CANCELLED"),
            (1, 11, 100, 5, D("1.99"), None),  # no status is not CANCELLED: counted
            (2, 10, 101, 3, D("0.10"), "CANCELLED"),  # the group's only row is cancelled
            (2, 10, 100, 7, D("3.33"), "ORDERED"),
        ],
        BALJU_SCHEMA,
    )


def test_daily_balju_leaves_out_cancelled_orders_and_sums_amounts(balju) -> None:  # type: ignore[no-untyped-def]
    out = transforms.daily_balju(balju)
    assert out.columns == [
        "store_id",
        "item_id",
        "supplier_id",
        "order_lines",
        "order_qty",
        "order_amount",
    ]
    assert rows(out) == [
        (1, 10, 100, 2, 18, D("45.00")),  # 6 x 2.50 + 12 x 2.50
        (1, 11, 100, 1, 5, D("9.95")),
        (2, 10, 100, 1, 7, D("23.31")),
    ]
    assert_money_is_decimal(out, "order_amount")


@pytest.fixture(params=["decimals", "cents"], ids=["read-decimals", "read-cents"])
def as_read(request, spark, tmp_path):  # type: ignore[no-untyped-def]
    """The lines as the s2s gets them: `decimals`, as the contract types them; `cents`, written
    to Parquet and read back with the money as the whole cents the files hold
    (`gates.read_in_cents`, what the sales s2s reads)."""

    def read(df: DataFrame) -> DataFrame:
        if request.param == "decimals":
            return df
        folder = f"{tempfile.mkdtemp(dir=tmp_path)}/lines"  # Spark writes a folder anew
        df.write.parquet(folder)
        columns = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
        schema = gates.read_in_cents(columns, ["unit_price", "discount_amt"])
        read = spark.read.schema(schema).parquet(folder)
        assert dict(read.dtypes)["unit_price"] == "bigint"
        return read

    return read


@pytest.fixture
def sales(spark, as_read):  # type: ignore[no-untyped-def]
    return as_read(spark.createDataFrame(
        [
            # a receipt of two lines, at the last millisecond of hour 9
            ("R1", datetime(2015, 1, 5, 9, 59, 59, 999000), 1, 10, 2, D("3.50"), D("0.70")),
            ("R1", datetime(2015, 1, 5, 9, 59, 59, 999000), 1, 11, 1, D("10.00"), D("0.00")),
            # the first instant of hour 10
            ("R2", datetime(2015, 1, 5, 10, 0, 0), 1, 10, 3, D("3.50"), D("0.00")),
            # a returned line
            ("R3", datetime(2015, 1, 5, 10, 30, 0), 1, 10, -1, D("3.50"), D("0.00")),
            # the first and the last instant of the day, one without a discount amount
            ("R4", datetime(2015, 1, 5, 0, 0, 0), 2, 10, 1, D("3.60"), None),
            ("R5", datetime(2015, 1, 5, 23, 59, 59, 999000), 2, 12, 4, D("0.25"), D("0.10")),
        ],
        SALES_SCHEMA,
    ))  # fmt: skip


@MONEY_PLANS
@pytest.mark.parametrize("partitions", [None, 3], ids=["session", "three"])
def test_daily_sales_by_item(sales, cents, partitions) -> None:  # type: ignore[no-untyped-def]
    out = transforms.daily_sales_by_item(sales, cents=cents, partitions=partitions)
    assert out.columns == [
        "store_id", "item_id", "sales_qty", "return_qty", "gross_amount",
        "discount_amount", "net_amount", "receipt_count",
    ]  # fmt: skip
    assert rows(out) == [
        # 2 + 3 - 1 sold, 1 returned; 7.00 + 10.50 - 3.50 gross; receipts R1, R2, R3
        (1, 10, 4, 1, D("14.00"), D("0.70"), D("13.30"), 3),
        (1, 11, 1, 0, D("10.00"), D("0.00"), D("10.00"), 1),
        (2, 10, 1, 0, D("3.60"), D("0.00"), D("3.60"), 1),
        (2, 12, 4, 0, D("1.00"), D("0.10"), D("0.90"), 1),
    ]
    assert_money_is_decimal(out, "gross_amount", "discount_amount", "net_amount")


@MONEY_PLANS
def test_daily_sales_by_store(sales, cents) -> None:  # type: ignore[no-untyped-def]
    out = transforms.daily_sales_by_store(sales, cents=cents)
    assert out.columns == [
        "store_id", "sales_qty", "gross_amount", "discount_amount", "net_amount",
        "receipt_count", "avg_receipt_amount",
    ]  # fmt: skip
    assert rows(out) == [
        # 23.30 over 3 receipts = 7.7666..., rounded half up to 7.77
        (1, 5, D("24.00"), D("0.70"), D("23.30"), 3, D("7.77")),
        (2, 5, D("4.60"), D("0.10"), D("4.50"), 2, D("2.25")),
    ]
    assert_money_is_decimal(
        out, "gross_amount", "discount_amount", "net_amount", "avg_receipt_amount"
    )


def test_average_receipt_rounds_a_half_cent_up(spark) -> None:  # type: ignore[no-untyped-def]
    # 0.05 net over 2 receipts is 0.025 exactly: half up gives 0.03, half even would give 0.02;
    # 0.15 over 2 is 0.075: half up 0.08, half even 0.08 too, so only the first tells them apart.
    at = datetime(2015, 1, 5, 12, 0, 0)
    sales = spark.createDataFrame(
        [
            ("R1", at, 1, 10, 1, D("0.05"), D("0.00")),
            ("R2", at, 1, 10, 1, D("0.00"), D("0.00")),
            ("R3", at, 2, 10, 1, D("0.15"), D("0.00")),
            ("R4", at, 2, 10, 1, D("0.00"), D("0.00")),
        ],
        SALES_SCHEMA,
    )
    out = transforms.daily_sales_by_store(sales).select("store_id", "avg_receipt_amount")
    assert rows(out) == [(1, D("0.03")), (2, D("0.08"))]


def hourly_from_receipts(sales: DataFrame, cents: bool = False) -> DataFrame:
    """The hourly table as the s2s builds it when every receipt is rung up in one hour."""
    receipts = transforms.receipts_by_hours(sales, cents=cents)
    assert transforms.outside_one_hour(receipts).isEmpty()
    return transforms.daily_sales_by_hour_from(receipts, cents=cents)


# the hourly table from the lines (any receipt), or from the receipts (each within an hour)
HOURLY_BUILDS = pytest.mark.parametrize(
    "hourly", [transforms.daily_sales_by_hour, hourly_from_receipts], ids=["lines", "receipts"]
)


@MONEY_PLANS
@HOURLY_BUILDS
def test_daily_sales_by_hour_splits_at_the_hour_boundary(sales, cents, hourly) -> None:  # type: ignore[no-untyped-def]
    out = hourly(sales, cents=cents)
    assert out.columns == ["store_id", "sale_hour", "sales_qty", "net_amount", "receipt_count"]
    assert rows(out) == [
        (1, 9, 3, D("16.30"), 1),  # R1: 7.00 + 10.00 - 0.70
        (1, 10, 2, D("7.00"), 2),  # R2 and the return R3: 10.50 - 3.50
        (2, 0, 1, D("3.60"), 1),
        (2, 23, 4, D("0.90"), 1),
    ]
    assert_money_is_decimal(out, "net_amount")


@HOURLY_BUILDS
def test_the_hour_is_the_wall_clocks_before_1970_too(spark, as_read, hourly) -> None:  # type: ignore[no-untyped-def]
    lines = [
        ("R1", datetime(1969, 12, 31, 23, 59, 59, 999999), 1, 10, 1, D("1.00"), D("0.00")),
        ("R2", datetime(1969, 12, 31, 0, 0, 0), 1, 10, 1, D("1.00"), D("0.00")),
        ("R3", datetime(1970, 1, 1, 0, 0, 0), 1, 10, 1, D("1.00"), D("0.00")),
        ("R4", datetime(1900, 1, 1, 13, 0, 0, 1), 1, 10, 1, D("1.00"), D("0.00")),
        ("R5", datetime(2099, 12, 31, 22, 59, 59), 1, 10, 1, D("1.00"), D("0.00")),
    ]
    sales = as_read(spark.createDataFrame(lines, SALES_SCHEMA))
    out = hourly(sales).select("sale_hour", "receipt_count")
    assert rows(out) == [(0, 2), (13, 1), (22, 1), (23, 1)]


@MONEY_PLANS
def test_a_receipt_over_two_hours_is_counted_in_each_from_the_lines(spark, as_read, cents) -> None:  # type: ignore[no-untyped-def]
    # The receipts' grouping by first and last hour finds every receipt whose lines are not
    # all in one hour of the day (a line without sold_at is in none); the hourly table is
    # then built from the lines, and counts such a receipt in each of its hours.
    lines = [
        ("R1", datetime(2015, 1, 5, 10, 59, 59, 999999), 1, 10, 1, D("1.00"), D("0.00")),
        ("R1", datetime(2015, 1, 5, 11, 0, 0), 1, 11, 2, D("2.00"), D("0.50")),
        ("R2", datetime(2015, 1, 5, 11, 30, 0), 1, 10, 1, D("5.00"), D("0.00")),
    ]
    spans = as_read(spark.createDataFrame(lines, SALES_SCHEMA))
    outside = transforms.outside_one_hour(transforms.receipts_by_hours(spans, cents=cents))
    assert rows(outside.select("store_id", "first_hour", "last_hour", "receipt_count")) == [
        (1, 10, 11, 1)
    ]
    out = transforms.daily_sales_by_hour(spans, cents=cents)
    assert rows(out) == [(1, 10, 1, D("1.00"), 1), (1, 11, 3, D("8.50"), 2)]
    by_store = transforms.daily_sales_by_store(spans, cents=cents)
    assert rows(by_store.select("store_id", "net_amount", "receipt_count")) == [(1, D("9.50"), 2)]
    at = datetime(2015, 1, 5, 12, 0, 0)
    for odd in (
        [("R3", None, 1, 10, 1, D("1.00"), D("0.00"))],  # a line without a time
        [("R3", None, 1, 10, 1, D("1.00"), D("0.00")), ("R3", at, 1, 10, 1, D("1.00"), D("0"))],
        # lines without a receipt, in two hours
        [
            (None, at, 1, 10, 1, D("1.00"), D("0")),
            (None, at.replace(hour=13), 1, 10, 1, D("1"), D("0")),
        ],
    ):
        receipts = transforms.receipts_by_hours(as_read(spark.createDataFrame(odd, SALES_SCHEMA)))
        assert not transforms.outside_one_hour(receipts).isEmpty(), odd


@MONEY_PLANS
def test_a_null_key_is_a_group_of_its_own_with_its_receipts(spark, as_read, cents) -> None:  # type: ignore[no-untyped-def]
    # The receipts are counted by a grouping of their own (by key and receipt): a group whose
    # key holds a null must still get its own count, as GROUP BY keeps it (IsPrimaryKey then
    # refuses the day; the silver rows themselves follow the definition).
    at = datetime(2015, 1, 5, 12, 0, 0)
    sales = as_read(spark.createDataFrame(
        [
            ("R1", at, 1, None, 1, D("1.00"), D("0.00")),
            ("R2", at, 1, None, 2, D("1.00"), D("0.00")),
            ("R2", at, 1, 10, 1, D("2.00"), D("0.00")),
            ("R3", at, None, 10, 1, D("5.00"), D("1.00")),
        ],
        SALES_SCHEMA,
    ))  # fmt: skip
    by_item = transforms.daily_sales_by_item(sales, cents=cents)
    by_item = by_item.select("store_id", "item_id", "receipt_count")
    assert sorted(rows(by_item), key=str) == sorted(
        [(1, None, 2), (1, 10, 1), (None, 10, 1)], key=str
    )
    by_store = transforms.daily_sales_by_store(sales, cents=cents).select(
        "store_id", "net_amount", "receipt_count"
    )
    assert sorted(rows(by_store), key=str) == sorted(
        [(1, D("5.00"), 2), (None, D("4.00"), 1)], key=str
    )


@MONEY_PLANS
def test_a_null_receipt_is_not_counted_and_no_discount_is_zero(spark, as_read, cents) -> None:  # type: ignore[no-untyped-def]
    # count(DISTINCT receipt_no) skips nulls; a group whose discounts are all null has 0
    at = datetime(2015, 1, 5, 12, 0, 0)
    sales = as_read(spark.createDataFrame(
        [
            (None, at, 1, 10, 2, D("1.10"), None),
            ("R1", at, 1, 10, 1, D("1.10"), None),
            (None, at, 2, 10, 1, D("0.01"), D("0.01")),
        ],
        SALES_SCHEMA,
    ))  # fmt: skip
    out = transforms.daily_sales_by_item(sales, cents=cents)
    assert rows(out) == [
        (1, 10, 3, 0, D("3.30"), D("0.00"), D("3.30"), 1),
        (2, 10, 1, 0, D("0.01"), D("0.01"), D("0.00"), 0),
    ]
    # the contract's types, whichever plan summed them
    assert [(f.name, f.dataType.simpleString()) for f in out.schema.fields] == list(
        contract.of(lake.SILVER_DAILYSALES_ITEM).columns
    )


def test_the_contracts_largest_lines_sum_exactly_in_decimals(spark, as_read) -> None:  # type: ignore[no-untyped-def]
    # int's and numeric(12,2)'s extremes: one such line is past what cents can hold
    at = datetime(2015, 1, 5, 12, 0, 0)
    top, qty = D("9999999999.99"), 2**31 - 1
    sales = as_read(spark.createDataFrame(
        [("R1", at, 1, 10, qty, top, top), ("R2", at, 1, 10, -(2**31), top, -top)],
        SALES_SCHEMA,
    ))  # fmt: skip
    assert not transforms.cents_are_exact(2, 2**31, top, top)
    out = transforms.daily_sales_by_store(sales, cents=False)
    assert rows(out.select("sales_qty", "gross_amount", "discount_amount")) == [
        (-1, D("-9999999999.99"), D("0.00"))
    ]


@pytest.mark.parametrize(
    ("rows", "qty", "price", "discount", "exact"),
    [
        (0, None, None, None, True),  # no lines
        (1, 2**31, D("9999999999.99"), D("0"), False),  # the contract's largest line
        # 2**63 - 1 cents over the largest price's 999,999,999,999 cents is 9,223,372.04
        (1, 9_223_372, D("9999999999.99"), D("0"), True),
        (1, 9_223_373, D("9999999999.99"), D("0"), False),
        (2, 4_611_687, D("9999999999.99"), D("0"), False),  # the rows count too
        (10_000_000, 1_000, D("9999.99"), D("50.00"), True),  # a big shop's day
        (10**7, 1, D("0"), D("9223372036.86"), False),  # the discounts alone overflow
    ],
)
def test_cents_are_exact_only_when_no_sum_can_pass_a_long(
    rows, qty, price, discount, exact
) -> None:  # type: ignore[no-untyped-def]
    assert transforms.cents_are_exact(rows, qty, price, discount) is exact


def test_empty_day_gives_empty_silver_tables(spark) -> None:  # type: ignore[no-untyped-def]
    empty = spark.createDataFrame([], SALES_SCHEMA)
    assert transforms.daily_sales_by_store(empty).collect() == []
    assert transforms.daily_balju(spark.createDataFrame([], BALJU_SCHEMA)).collect() == []


def test_with_extracted_at_stamps_every_row(spark) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2015, 1, 6, 1, 2, 3, tzinfo=UTC)
    out = spark.createDataFrame([(1,), (2,)], "x int").transform(transforms.with_extracted_at(at))
    assert rows(out) == [(1, datetime(2015, 1, 6, 1, 2, 3)), (2, datetime(2015, 1, 6, 1, 2, 3))]


def shuffles(df: DataFrame) -> list[str]:
    """The hash shuffles of `df`'s physical plan, the last first (with AQE: before it runs)."""
    plan = df._jdf.queryExecution().executedPlan().toString()
    return re.findall(r"Exchange hashpartitioning\(([^)]*)\)", plan)


def test_a_big_days_item_lines_get_a_partition_per_quarter_million() -> None:
    # the session's partitions (None) until a partition per 250,000 lines is more
    assert steps.item_partitions(1_000_000, 8) is None
    assert steps.item_partitions(2_000_000, 8) is None
    assert steps.item_partitions(2_000_001, 8) == 9
    assert steps.item_partitions(10_000_000, 8) == 40
    assert steps.item_partitions(10_000_000, 200) is None


@MONEY_PLANS
def test_the_item_table_shuffles_its_lines_once_and_the_others_their_receipts(sales, cents) -> None:  # type: ignore[no-untyped-def]
    # a first level by (store, item, receipt) merges almost no lines: one shuffle of the lines
    # by (store, item) serves both levels; the store and hourly tables merge a receipt's lines
    # before their first shuffle, then shuffle the receipts again by their key
    (item,) = shuffles(transforms.daily_sales_by_item(sales, cents=cents))
    assert item.startswith("store_id#") and ", item_id#" in item and "receipt_no" not in item
    (into_12,) = shuffles(transforms.daily_sales_by_item(sales, cents=cents, partitions=12))
    assert into_12.endswith(", 12") and "receipt_no" not in into_12
    second, first = shuffles(transforms.daily_sales_by_hour(sales, cents=cents))  # last first
    assert "receipt_no" in first and "receipt_no" not in second
    # the store and hourly tables' common grouping: by receipt, then a few rows per store
    by_hours, by_receipt = shuffles(transforms.receipts_by_hours(sales, cents=cents))
    assert "receipt_no" in by_receipt and "receipt_no" not in by_hours
    assert "first_hour" in by_hours and "last_hour" in by_hours


def test_the_sales_s2s_reads_every_money_column_in_cents() -> None:
    # the raw side's figures name no money column in plain SQL, so the s2s reads all of the
    # sales lines' two-place decimals as the cents the files hold, and the tables take them so
    money = [n for n, t in contract.FACTDATA_SALES.columns if t.startswith("decimal")]
    assert money == ["unit_price", "discount_amt"]
    assert gates.cents_columns(steps.SALES_RAW) == money
