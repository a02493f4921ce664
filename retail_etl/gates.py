"""Reconciliation gates: a day is published only when what was written adds up.

Plain Spark aggregates that run the same locally and on Glue, named after the Glue Data Quality
rule types they correspond to, so a team can move them to DQDL later:
- RowCountMatch: the rows written equal the rows the source (or the raw day) holds;
- AggregateMatch: a control sum over what was written equals the same sum at the source;
- IsPrimaryKey: the table's key is unique (and never null) within the day.
A failed gate stops the job before anything is published; its message is one line naming the
table, the day, the check, what was expected and what was found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retail_etl.errors import EtlError
from retail_etl.lake import PARTITION_COLUMN
from retail_etl.transforms import CENTS_PER_UNIT, cents_fit

_DISTINCT = re.compile(r"\bDISTINCT\b", re.IGNORECASE)
_TOTAL = re.compile(r"\s*(count|sum)\s*\(", re.IGNORECASE)
_LARGEST = re.compile(r"\s*max\s*\(", re.IGNORECASE)
_ZERO_IF_NONE = re.compile(r"\s*coalesce\s*\((.*),\s*0\s*\)\s*", re.IGNORECASE | re.DOTALL)

# Keys are counted by words of 64 (`DistinctKeys`) while their span is at most this many times
# the rows: the aggregation's groups, one a word, then never outnumber the rows.
DENSE_KEYS_PER_ROW = 64
_KEY_WORD = "_key_word"


@dataclass(frozen=True)
class DistinctKeys:
    """A figure: how many distinct values of the integer column `column` lie in [low, high],
    counted exactly by words of 64 values instead of hashing every key as `count(DISTINCT)`
    does: the rows are grouped by their key's word, the word's keys are bits OR-ed together in
    a 64-bit integer, and its set bits are its distinct keys. Nulls and values outside the
    range are not counted, so a key the source's snapshot never held fails IsPrimaryKey.

    `per`: columns the key is unique within, such as the store of a (store_id, item_id) key:
    the words are counted within each of their values, a row with a null in them not counted,
    as `count(DISTINCT store_id, item_id)` skips it.

    Spark's bitmaps (`bitmap_construct_agg`, 32,768 values each) counted the same, but their
    aggregation buffer is binary, which Spark's hash aggregation cannot update in place: it
    sorted every row by bucket first. `bit_or` on a long is hashed (measured in one warm
    session, ten million keys by day: 0.74-0.88 s against 1.79-2.18 s by bitmaps; a count
    alone 0.33-0.38 s, `count(DISTINCT)` 10.3 s).

    `sql` is the same figure as one SQL aggregate; `totals_by_group` counts it by words.
    """

    column: str
    low: int
    high: int
    per: tuple[str, ...] = ()

    @property
    def sql(self) -> str:
        within = "".join(f"{c}, " for c in self.per)
        return f"count(DISTINCT {within}CASE WHEN {self._inside_sql} THEN {self.column} END)"

    @property
    def _inside_sql(self) -> str:
        return " AND ".join(
            [f"{self.column} BETWEEN {self.low} AND {self.high}"]
            + [f"{c} IS NOT NULL" for c in self.per]
        )

    def _offset(self) -> str:
        """SQL: 0 for `low` up to high - low (no overflow: the span is dense, so small); null
        outside the range."""
        return f"CASE WHEN {self._inside_sql} THEN {self.column} - ({self.low}L) END"

    def word(self) -> Column:
        """The word of 64 values a row's key is in (null outside the range)."""
        return F.expr(f"shiftright({self._offset()}, 6)")

    def count_in_word(self) -> Column:
        """The distinct values in one group of rows that share a `word`."""
        return F.expr(f"bit_count(bit_or(shiftleft(1L, CAST({self._offset()} & 63 AS int))))")


_CENT = Decimal("0.01")


@dataclass(frozen=True)
class CentsSum:
    """A figure: `sum(factor * money)`, or `sum(money)` without a factor, of a column `money`
    with two decimal places and an integer column `factor`, as exact as Spark's decimal sum.

    `sql` is that sum as SQL, the same text at the source. Spark sums decimals in BigDecimal
    buffers; `totals_by_group` sums whole cents as 64-bit integers instead, with the largest
    |factor| and |money| and the rows of each group in the same pass. Spark's long arithmetic
    wraps silently outside ANSI mode, but no product and no partial sum can pass the group's
    rows x its largest |factor| x its largest |money| in cents: when that fits in 2**63 - 1
    the cents are exact and become a Decimal with two places; when it does not in some group,
    the figure is taken again in decimals, for every group, in a pass of its own.
    """

    money: str
    factor: str | None = None

    @property
    def sql(self) -> str:
        return f"sum({self.factor} * {self.money})" if self.factor else f"sum({self.money})"

    def decimal_sql(self, in_cents: bool = False) -> str:
        """`sql` in Spark's decimals; `in_cents`: the money column holds whole cents (a
        bigint, `read_in_cents`), summed as integers in decimals and turned back by `amount`."""
        if not in_cents:
            return self.sql
        cents = f"CAST({self.money} AS decimal(19,0))"
        return f"sum({self.factor} * {cents})" if self.factor else f"sum({cents})"

    def parts(self, in_cents: bool = False) -> dict[str, str]:
        """The aggregates taken instead of `sql`, by the suffix of their names (`in_cents`: as
        in `decimal_sql`; the largest |money| is then in cents too)."""
        cents = self.money if in_cents else f"CAST({self.money} * {CENTS_PER_UNIT} AS bigint)"
        parts = {
            "cents": f"sum(CAST({self.factor} AS bigint) * {cents})"
            if self.factor
            else f"sum({cents})",
            "rows": f"count({self.money})",
            "money": f"max(abs({self.money}))",
        }
        if self.factor:  # abs of an int -2**31 stays negative: widened first
            parts["factor"] = f"max(abs(CAST({self.factor} AS bigint)))"
        return parts

    def exact(self, parts: Mapping[str, Any], in_cents: bool = False) -> bool:
        """Whether the cents summed with these `parts` (`parts()`, by suffix) are exact."""
        largest = self.amount(parts["money"]) if in_cents else parts["money"]
        return cents_fit(int(parts["rows"] or 0), largest, parts.get("factor", 1))

    @staticmethod
    def amount(cents: int | Decimal | None) -> Decimal | None:
        """Whole cents as the decimal sum (None: no rows to sum, as SQL's sum gives)."""
        return None if cents is None else (Decimal(cents) / CENTS_PER_UNIT).quantize(_CENT)


@dataclass(frozen=True)
class LargestMoney:
    """A figure: the largest |money| of a column `money` with two decimal places, as a Decimal
    in units whether the column was read as the contract's decimal or as the cents the files
    hold (`read_in_cents`)."""

    money: str

    @property
    def sql(self) -> str:
        return f"max(abs({self.money}))"


def cents_columns(figures: Mapping[str, Figure]) -> list[str]:
    """The money columns a read for `figures` may take as whole cents (`read_in_cents`): those
    of their `CentsSum` and `LargestMoney` figures that no figure in plain SQL names, as such
    SQL reads a column as the contract types it."""
    named = " ".join(f for f in figures.values() if isinstance(f, str))
    money = [f.money for f in figures.values() if isinstance(f, CentsSum | LargestMoney)]
    return [m for m in dict.fromkeys(money) if not re.search(rf"\b{re.escape(m)}\b", named)]


def read_in_cents(columns: Sequence[tuple[str, str]], money: Iterable[str]) -> str:
    """A schema string for reading Parquet files of `columns` (name, Spark SQL type) with the
    `money` columns as whole cents: each `decimal(p,2)` of 10 to 18 digits among them as
    `bigint`, other columns as they are.

    Spark writes such a decimal as a 64-bit integer, its unscaled value, and reads that
    integer as it is when the schema asks for a bigint: the cents, without turning each value
    into a decimal and multiplying it by 100 (Java's BigDecimal in Spark 3.5; measured in one
    warm session, ten million lines, a day's count, two control sums and their largest values
    0.35 s against 1.3 s; cold 0.55 s against 2.6 s). `totals_by_group` takes a `CentsSum`
    of a bigint column as cents already.
    """
    wanted = set(money)

    def kind(name: str, kind: str) -> str:
        found = _MONEY_TYPE.fullmatch(kind)
        return "bigint" if name in wanted and found and 10 <= int(found[1]) <= 18 else kind

    return ", ".join(f"`{name}` {kind(name, t)}" for name, t in columns)


_MONEY_TYPE = re.compile(r"decimal\((\d+),\s*2\)")


Figure = str | DistinctKeys | CentsSum | LargestMoney  # a named figure of a group of rows


def _is_total(sql: str) -> bool:
    """Whether `sql` is one count(...) or sum(...) of the whole expression, without DISTINCT,
    or such a sum with a null as 0 (`coalesce(sum(...), 0)`): a total of any split of the rows
    is then the total of the parts' totals."""
    zero_if_none = _ZERO_IF_NONE.fullmatch(sql)
    return _is_whole(_TOTAL, zero_if_none.group(1) if zero_if_none else sql)


def _is_largest(sql: str) -> bool:
    """Whether `sql` is one max(...) of the whole expression: of any split of the rows, the
    largest of the parts' largest."""
    return _is_whole(_LARGEST, sql)


def _is_whole(aggregate: re.Pattern[str], sql: str) -> bool:
    start = aggregate.match(sql)
    if start is None or _DISTINCT.search(sql):
        return False
    depth = 0
    body = sql.rstrip()
    for at in range(start.end() - 1, len(body)):
        depth += {"(": 1, ")": -1}.get(body[at], 0)
        if depth == 0:
            return at == len(body) - 1
    return False


@dataclass(frozen=True)
class GateResult:
    rule: str
    table: str
    day: date
    check: str
    expected: Any
    actual: Any

    @property
    def passed(self) -> bool:
        return bool(self.expected == self.actual)

    def line(self) -> str:
        return (
            f"{self.table} {self.day}: {self.rule} {self.check}: expected {self.expected}, "
            f"found {self.actual}"
        )

    def as_record(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "table": self.table,
            "day": self.day.isoformat(),
            "check": self.check,
            "expected": str(self.expected),
            "actual": str(self.actual),
            "passed": self.passed,
        }


class GateFailed(EtlError):
    """One or more gates failed; nothing of the run was published."""

    def __init__(self, results: Sequence[GateResult]) -> None:
        failed = [r for r in results if not r.passed]
        more = f" (and {len(failed) - 1} more failed gate(s))" if len(failed) > 1 else ""
        super().__init__(f"gate failed: {failed[0].line()}{more}")
        self.results = list(results)


def require(results: Sequence[GateResult]) -> list[GateResult]:
    """The results, or GateFailed when any of them failed."""
    if not all(r.passed for r in results):
        raise GateFailed(results)
    return list(results)


def totals(df: DataFrame, expressions: Mapping[str, Figure]) -> dict[str, Any]:
    """Each named figure over `df`, in one Spark job."""
    row = df.agg(
        *[F.expr(figure_sql(f)).alias(f"c{n}") for n, f in enumerate(expressions.values())]
    ).first()
    assert row is not None  # a global aggregate has one row
    return {name: row[f"c{n}"] for n, name in enumerate(expressions)}


def totals_by_group(
    df: DataFrame, keys: Sequence[str], expressions: Mapping[str, Figure]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Each named figure over each group of `df` by `keys`, by the group's key values.

    A `CentsSum` is taken as its parts, in the same passes as the other figures, then checked
    exact group by group; a figure not exact in some group is taken again in decimals. A money
    column of type bigint holds whole cents (`read_in_cents`).
    """
    cents = {n: f for n, f in expressions.items() if isinstance(f, CentsSum)}
    largest = {n: f for n, f in expressions.items() if isinstance(f, LargestMoney)}
    wide: dict[str, str | DistinctKeys] = {
        n: f.sql if isinstance(f, LargestMoney) else f
        for n, f in expressions.items()
        if not isinstance(f, CentsSum)
    }
    types = dict(df.dtypes)
    in_cents = {
        n: types.get(f.money) == "bigint"
        for n, f in expressions.items()
        if isinstance(f, CentsSum | LargestMoney)
    }
    for name, money in cents.items():
        wide.update({f"{name}\0{p}": sql for p, sql in money.parts(in_cents[name]).items()})
    found = _totals_by_group(df, keys, wide)
    for name in largest:
        if in_cents[name]:
            for group in found.values():
                group[name] = CentsSum.amount(group[name])
    again = {}
    for name, money in cents.items():
        exact = True
        for group in found.values():
            parts = {part: group.pop(f"{name}\0{part}") for part in money.parts()}
            group[name] = money.amount(parts["cents"])
            exact = exact and money.exact(parts, in_cents[name])
        if not exact:
            again[name] = money.decimal_sql(in_cents[name])
    if again:
        for group_key, figures in _totals_by_group(df, keys, again).items():
            found[group_key].update(
                {
                    n: cents[n].amount(v) if in_cents[n] and v is not None else v
                    for n, v in figures.items()
                }
            )
    return found


def _totals_by_group(
    df: DataFrame, keys: Sequence[str], expressions: Mapping[str, str | DistinctKeys]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """`totals_by_group` of SQL aggregates and keys.

    The aggregates with DISTINCT in them run in a Spark job of their own: in one aggregation
    with the others, Spark's plan for a distinct aggregate first groups by the keys and the
    distinct column, carrying every other aggregate's buffer through that grouping of about one
    row per row of `df` (measured on a ten-million-line day, in one session: counts, three
    control sums and the distinct keys 11.9 s together, 2.2 s + 6.7 s apart).

    A `DistinctKeys` figure needs no such grouping: the rows are grouped by `keys`, the key's
    `per` columns and its word, each word's distinct keys counted in its bits, and the counts
    summed by `keys`,
    in the same job as the counts, sums and maxima (totals of the words' totals, the largest of
    their largest).
    """
    words = {n: f for n, f in expressions.items() if isinstance(f, DistinctKeys)}
    if len(words) > 1:
        raise ValueError(f"one DistinctKeys figure per aggregation, not {sorted(words)}")
    sql = {n: f for n, f in expressions.items() if isinstance(f, str)}
    distinct = {n: f for n, f in sql.items() if _DISTINCT.search(f)}
    by_word = {n: f for n, f in sql.items() if words and (_is_total(f) or _is_largest(f))}
    plain = {n: f for n, f in sql.items() if n not in distinct and n not in by_word}
    found: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(grouped: DataFrame, names: Sequence[str]) -> None:
        for row in grouped.collect():
            group = found.setdefault(tuple(row[k] for k in keys), {})
            group.update({name: row[f"c{n}"] for n, name in enumerate(names)})

    for name, distinct_keys in words.items():
        parts = df.groupBy(*keys, *distinct_keys.per, distinct_keys.word().alias(_KEY_WORD)).agg(
            *[F.expr(f).alias(f"c{n}") for n, f in enumerate(by_word.values())],
            distinct_keys.count_in_word().alias(f"c{len(by_word)}"),
        )
        combine = [F.max if _is_largest(f) else F.sum for f in by_word.values()] + [F.sum]
        add(
            parts.groupBy(*keys).agg(*[c(f"c{n}").alias(f"c{n}") for n, c in enumerate(combine)]),
            [*by_word, name],
        )
    for part in (plain, distinct):
        if part:
            add(
                df.groupBy(*keys).agg(
                    *[F.expr(f).alias(f"c{n}") for n, f in enumerate(part.values())]
                ),
                list(part),
            )
    return found


def totals_by_day(
    df: DataFrame, expressions: Mapping[str, Figure], days: Sequence[date]
) -> dict[date, dict[str, Any]]:
    """Each named figure over each day's rows of `df` (by its `extract_date`,
    `totals_by_group`); a day without rows gets what the aggregates give over no rows."""
    found = {
        date.fromisoformat(day): figures
        for (day,), figures in totals_by_group(df, [PARTITION_COLUMN], expressions).items()
    }
    missing = [d for d in days if d not in found]
    if missing:
        none = totals(df.limit(0), expressions)  # count(1) is 0, sum(x) is null, ...
        found.update({d: dict(none) for d in missing})
    return found


def figure_sql(figure: Figure) -> str:
    """The figure as one SQL aggregate (as PostgreSQL takes it)."""
    return figure if isinstance(figure, str) else figure.sql


def key_count(
    key: Sequence[str], within: tuple[int, int] | None = None, rows: int = 0, groups: int = 1
) -> dict[str, Figure]:
    """The figure IsPrimaryKey compares with the day's rows: its distinct, non-null keys
    (`count(DISTINCT a, b)` skips a key with a null in it).

    A key whose last column is an integer whose values lie `within` (lowest, highest) is
    counted by words of 64 (`DistinctKeys`, within each value of the key's other columns, of
    which there are `groups`) while the words, `groups` x the span / 64, are no more than
    `rows`; otherwise by `count(DISTINCT)`.
    """
    if within is not None:
        low, high = within
        if groups * (high - low + 1) <= DENSE_KEYS_PER_ROW * max(rows, 1):
            return {"keys": DistinctKeys(key[-1], low, high, tuple(key[:-1]))}
    return {"keys": f"count(DISTINCT {', '.join(key)})"}


def raw_gates(
    found: Mapping[date, Mapping[str, Any]],
    table: str,
    key: Sequence[str],
    days: Sequence[date],
    expected_rows: Mapping[date, int],
    expected_sums: Mapping[date, Mapping[str, Any]],
    sums: Mapping[str, Figure],
) -> list[GateResult]:
    """d2s: what was written (`found`: each day's rows, `sums` and `key_count`, read back from
    its files) against what the source snapshot holds, day by day. A day the source has no rows
    for is expected to have none, and null sums (as PostgreSQL sums none)."""
    results = []
    for day in days:
        got = found[day]
        results.append(
            GateResult("RowCountMatch", table, day, "rows", expected_rows.get(day, 0), got["rows"])
        )
        results += [
            GateResult(
                "AggregateMatch", table, day, name, expected_sums.get(day, {}).get(name), got[name]
            )
            for name in sums
        ]
    return results + primary_keys(found, table, key, days)


def match_totals(
    table: str, day: date, expected: Mapping[str, Any], actual: Mapping[str, Any]
) -> list[GateResult]:
    """AggregateMatch for each named total (the name says which source total it matches);
    RowCountMatch for the totals that count rows."""
    rule = {"rows": "RowCountMatch", "order_lines": "RowCountMatch"}
    return [
        GateResult(rule.get(name, "AggregateMatch"), table, day, name, expected[name], actual[name])
        for name in expected
    ]


def primary_keys(
    found: Mapping[date, Mapping[str, Any]], table: str, key: Sequence[str], days: Sequence[date]
) -> list[GateResult]:
    """IsPrimaryKey for each day: as many distinct, non-null keys (`key_count`) as rows."""
    return [
        GateResult(
            "IsPrimaryKey", table, day, ", ".join(key), found[day]["rows"], found[day]["keys"]
        )
        for day in days
    ]
