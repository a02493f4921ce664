"""On Glue, a job that empties a day makes the catalog forget that day's partition (moto)."""

from __future__ import annotations

from datetime import date, timedelta

import boto3
import pytest
from moto import mock_aws

from retail_etl import glue_catalog
from retail_etl.jobrun import forget_emptied_days
from retail_etl.steps import StepResult

DATABASE = "hist-retail"
DAY = date(2015, 1, 5)


@pytest.fixture
def glue(aws_env):  # type: ignore[no-untyped-def]
    with mock_aws():
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


def result(table: str, rows: int) -> StepResult:
    return StepResult("step", table, None, rows, 0.0, f"s3://lake/{table}")


def test_only_the_emptied_tables_forget_the_day(glue) -> None:  # type: ignore[no-untyped-def]
    add_days(glue, "factdata_balju", [DAY, DAY + timedelta(days=1)])
    add_days(glue, "silver_dailybalju", [DAY])

    touched = forget_emptied_days(
        glue, [result("factdata_balju", 0), result("silver_dailybalju", 12)], DAY
    )

    assert touched == ["factdata_balju"]
    assert catalogued(glue, "factdata_balju") == ["2015-01-06"]  # the next day is untouched
    assert catalogued(glue, "silver_dailybalju") == ["2015-01-05"]


def test_a_day_or_table_the_catalog_does_not_have_is_no_error(glue) -> None:  # type: ignore[no-untyped-def]
    assert glue_catalog.forget_days(glue, DATABASE, "factdata_balju", [DAY]) == 1
    assert glue_catalog.forget_days(glue, DATABASE, "factdata_sales", [DAY]) == 0  # no table


def test_many_days_go_25_to_a_call(glue) -> None:  # type: ignore[no-untyped-def]
    days = [DAY + timedelta(days=n) for n in range(60)]
    add_days(glue, "factdata_balju", days[:60])

    calls = glue_catalog.forget_days(glue, DATABASE, "factdata_balju", days)

    assert calls == 3  # BatchDeletePartition takes at most 25 partitions
    assert catalogued(glue, "factdata_balju") == []
