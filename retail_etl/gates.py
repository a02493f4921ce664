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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from retail_etl.errors import EtlError
from retail_etl.lake import PARTITION_COLUMN

_DISTINCT = re.compile(r"\bDISTINCT\b", re.IGNORECASE)


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


def totals(df: DataFrame, expressions: Mapping[str, str]) -> dict[str, Any]:
    """Each named SQL aggregate over `df`, in one Spark job."""
    row = df.agg(
        *[F.expr(sql).alias(f"c{n}") for n, sql in enumerate(expressions.values())]
    ).first()
    assert row is not None  # a global aggregate has one row
    return {name: row[f"c{n}"] for n, name in enumerate(expressions)}


def totals_by_group(
    df: DataFrame, keys: Sequence[str], expressions: Mapping[str, str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Each named SQL aggregate over each group of `df` by `keys`, by the group's key values.

    The aggregates with DISTINCT in them run in a Spark job of their own: in one aggregation
    with the others, Spark's plan for a distinct aggregate first groups by the keys and the
    distinct column, carrying every other aggregate's buffer through that grouping of about one
    row per row of `df` (measured on a ten-million-line day, in one session: counts, three
    control sums and the distinct keys 11.9 s together, 2.2 s + 6.7 s apart).
    """
    plain = {n: sql for n, sql in expressions.items() if not _DISTINCT.search(sql)}
    distinct = {n: sql for n, sql in expressions.items() if n not in plain}
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for part in (plain, distinct):
        if not part:
            continue
        grouped = df.groupBy(*keys).agg(
            *[F.expr(sql).alias(f"c{n}") for n, sql in enumerate(part.values())]
        )
        for row in grouped.collect():
            group = found.setdefault(tuple(row[k] for k in keys), {})
            group.update({name: row[f"c{n}"] for n, name in enumerate(part)})
    return found


def totals_by_day(
    df: DataFrame, expressions: Mapping[str, str], days: Sequence[date]
) -> dict[date, dict[str, Any]]:
    """Each named SQL aggregate over each day's rows of `df` (by its `extract_date`,
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


def key_count(key: Sequence[str]) -> dict[str, str]:
    """The figure IsPrimaryKey compares with the day's rows: its distinct, non-null keys
    (`count(DISTINCT a, b)` skips a key with a null in it)."""
    return {"keys": f"count(DISTINCT {', '.join(key)})"}


def raw_gates(
    found: Mapping[date, Mapping[str, Any]],
    table: str,
    key: Sequence[str],
    days: Sequence[date],
    expected_rows: Mapping[date, int],
    expected_sums: Mapping[date, Mapping[str, Any]],
    sums: Mapping[str, str],
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
