"""On Glue, jobs publish a day by pointing its catalog partition at their folder (moto)."""

from __future__ import annotations

from datetime import date, timedelta

import boto3
import pytest
from iam_check import calls_checked_as
from moto import mock_aws

from retail_etl.catalogs import DayChange, GlueCatalog, day_location, forget_days
from retail_etl.errors import EtlError
from retail_etl.lake import LakeTable

DATABASE = "hist-retail"
DAY = date(2015, 1, 5)


@pytest.fixture
def glue(aws_env, monkeypatch):  # type: ignore[no-untyped-def]
    # every call GlueCatalog makes here is checked against the Glue role (tests/iam_check.py)
    with mock_aws(), calls_checked_as(monkeypatch, "GlueRole", {"Prefix": "test"}):
        client = boto3.client("glue")
        client.create_database(DatabaseInput={"Name": DATABASE})
        for table in ("factdata_balju", "silver_dailybalju"):
            client.create_table(
                DatabaseName=DATABASE,
                TableInput={
                    "Name": table,
                    "PartitionKeys": [{"Name": "extract_date", "Type": "string"}],
                    "StorageDescriptor": {"Location": f"s3://lake/{table}/"},
                },
            )
        yield client


def add_days(glue, table: str, days: list[date]) -> None:  # type: ignore[no-untyped-def]
    glue.batch_create_partition(
        DatabaseName=DATABASE,
        TableName=table,
        PartitionInputList=[
            {
                "Values": [d.isoformat()],
                "StorageDescriptor": {"Location": f"s3://lake/{table}/extract_date={d}/"},
            }
            for d in days
        ],
    )


def catalogued(glue, table: str) -> list[str]:  # type: ignore[no-untyped-def]
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName=table)["Partitions"]
    return sorted(p["Values"][0] for p in partitions)


def test_publishing_creates_moves_and_removes_a_days_partition(glue) -> None:  # type: ignore[no-untyped-def]
    catalog = GlueCatalog(glue, DATABASE)
    table = LakeTable("factdata_balju", "factdata/balju")
    first = "s3://lake/factdata/balju/_runs/20150106T010000000000Z-aaaaaa/extract_date=2015-01-05"
    second = "s3://lake/factdata/balju/_runs/20150107T010000000000Z-bbbbbb/extract_date=2015-01-05"
    add_days(glue, "factdata_balju", [DAY + timedelta(days=1)])

    catalog.set_days(table, [DayChange(DAY, first)])
    assert day_location(catalog, table, DAY) == first
    catalog.set_days(table, [DayChange(DAY, second, current=first)])
    assert day_location(catalog, table, DAY) == second
    (partition,) = [
        p
        for p in glue.get_partitions(DatabaseName=DATABASE, TableName="factdata_balju")[
            "Partitions"
        ]
        if p["Values"] == ["2015-01-05"]
    ]
    assert partition["StorageDescriptor"]["Location"] == second
    catalog.set_days(table, [DayChange(DAY, None)])
    assert day_location(catalog, table, DAY) is None
    assert catalogued(glue, "factdata_balju") == ["2015-01-06"]  # the next day is untouched


def test_a_table_the_stack_did_not_declare_is_named(glue) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EtlError, match=r"table hist-retail\.factdata_sales is not in the Glue"):
        GlueCatalog(glue, DATABASE).ensure_table(LakeTable("factdata_sales", "x"), "s3://x")


def test_a_day_or_table_the_catalog_does_not_have_is_no_error(glue) -> None:  # type: ignore[no-untyped-def]
    assert forget_days(glue, DATABASE, "factdata_balju", [DAY]) == 1
    assert forget_days(glue, DATABASE, "factdata_sales", [DAY]) == 0  # no table


def test_many_days_go_25_to_a_call(glue) -> None:  # type: ignore[no-untyped-def]
    days = [DAY + timedelta(days=n) for n in range(60)]
    add_days(glue, "factdata_balju", days[:60])

    calls = forget_days(glue, DATABASE, "factdata_balju", days)

    assert calls == 3  # BatchDeletePartition takes at most 25 partitions
    assert catalogued(glue, "factdata_balju") == []


def test_a_range_is_published_in_batches_the_api_accepts(glue, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # aws_limits holds moto to AWS's batch sizes: 100 to create or update, 1,000 to get.
    catalog = GlueCatalog(glue, DATABASE)
    table = LakeTable("factdata_balju", "factdata/balju")
    days = [DAY + timedelta(days=n) for n in range(366)]
    run = "s3://lake/factdata/balju/_runs/{}/extract_date={}"
    calls: list[str] = []
    for name in ("batch_create_partition", "batch_update_partition", "batch_get_partition"):
        original = getattr(glue, name)

        def counted(*args, _name=name, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(glue, name, counted)

    catalog.set_days(table, [DayChange(d, run.format("a", d)) for d in days])
    first = catalog.day_locations(table, days)
    catalog.set_days(table, [DayChange(d, run.format("b", d), first[d]) for d in days[:150]])
    after = catalog.day_locations(table, [*days, DAY - timedelta(days=1)])

    assert calls.count("batch_create_partition") == 4  # 366 = 100 + 100 + 100 + 66
    assert calls.count("batch_update_partition") == 2  # 150 = 100 + 50
    assert calls.count("batch_get_partition") == 2  # one per look-up of up to 1,000 days
    assert first == {d: run.format("a", d) for d in days}
    assert after == {d: run.format("b" if n < 150 else "a", d) for n, d in enumerate(days)}
