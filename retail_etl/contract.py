"""The lake tables' columns and keys, as DESIGN.md declares them: the one place types come from.

The catalog's tables are created from these (no type is ever inferred from files), every write
is checked against them, and the silver transforms are tested to produce exactly them.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_etl import lake


@dataclass(frozen=True)
class TableContract:
    table: lake.LakeTable
    columns: tuple[tuple[str, str], ...]  # (name, Spark SQL type), partition column excluded
    key: tuple[str, ...]  # what makes a row unique within a day

    @property
    def ddl(self) -> str:
        """The columns as a Spark schema string (`a int, b decimal(12,2)`)."""
        return ", ".join(f"{name} {kind}" for name, kind in self.columns)


def _columns(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in text.split(", "):
        name, kind = part.split(" ", 1)
        pairs.append((name, kind))
    return tuple(pairs)


# Raw tables: every source column with its source type, plus when it was extracted. Decimals
# keep their scale end to end: money never becomes a float.
FACTDATA_BALJU = TableContract(
    lake.FACTDATA["balju"],
    _columns(
        "balju_id bigint, balju_date date, store_id int, item_id int, supplier_id int, "
        "order_qty int, unit_cost decimal(12,2), status string, created_at timestamp, "
        "updated_at timestamp, _extracted_at timestamp"
    ),
    key=("balju_id",),
)
FACTDATA_SALES = TableContract(
    lake.FACTDATA["sales"],
    _columns(
        "sale_id bigint, receipt_no string, sold_at timestamp, store_id int, item_id int, "
        "qty int, unit_price decimal(12,2), discount_amt decimal(12,2), payment_method string, "
        "_extracted_at timestamp"
    ),
    key=("sale_id",),
)
# Silver tables: the grain of DESIGN.md; sums of decimal(12,2) widen as Spark's exact decimal
# arithmetic widens them, and keep two decimal places.
SILVER_DAILYBALJU = TableContract(
    lake.SILVER_DAILYBALJU,
    _columns(
        "store_id int, item_id int, supplier_id int, order_lines bigint, order_qty bigint, "
        "order_amount decimal(33,2)"
    ),
    key=("store_id", "item_id", "supplier_id"),
)
SILVER_DAILYSALES_ITEM = TableContract(
    lake.SILVER_DAILYSALES_ITEM,
    _columns(
        "store_id int, item_id int, sales_qty bigint, return_qty bigint, "
        "gross_amount decimal(33,2), discount_amount decimal(22,2), net_amount decimal(34,2), "
        "receipt_count bigint"
    ),
    key=("store_id", "item_id"),
)
SILVER_DAILYSALES_STORE = TableContract(
    lake.SILVER_DAILYSALES_STORE,
    _columns(
        "store_id int, sales_qty bigint, gross_amount decimal(33,2), "
        "discount_amount decimal(22,2), net_amount decimal(34,2), receipt_count bigint, "
        "avg_receipt_amount decimal(20,2)"
    ),
    key=("store_id",),
)
SILVER_DAILYSALES_HOURLY = TableContract(
    lake.SILVER_DAILYSALES_HOURLY,
    _columns(
        "store_id int, sale_hour int, sales_qty bigint, net_amount decimal(34,2), "
        "receipt_count bigint"
    ),
    key=("store_id", "sale_hour"),
)

CONTRACTS = {
    c.table.name: c
    for c in (
        FACTDATA_BALJU,
        FACTDATA_SALES,
        SILVER_DAILYBALJU,
        SILVER_DAILYSALES_ITEM,
        SILVER_DAILYSALES_STORE,
        SILVER_DAILYSALES_HOURLY,
    )
}
RAW = {"balju": FACTDATA_BALJU, "sales": FACTDATA_SALES}


def of(table: lake.LakeTable) -> TableContract:
    return CONTRACTS[table.name]
