"""A lost catalog rebuilt from the lake alone (`retail-etl catalog restore`): every day points
where it pointed before the loss, locally and on Glue's catalog (moto)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from retail_etl import contract
from retail_etl import lake as tables
from retail_etl.audit import Run
from retail_etl.catalogs import DayChange, GlueCatalog, HiveCatalog
from retail_etl.lake import Lake, LakeTable
from retail_etl.local.cli import main as cli
from retail_etl.publish import run_of
from retail_etl.restore import restore

T1, T2 = tables.SILVER_DAILYSALES_STORE, tables.SILVER_DAILYBALJU
DAYS = [date(2015, 1, 1) + timedelta(days=n) for n in range(7)]


def write_and_publish(run: Run, table: LakeTable, rows: dict[date, int]) -> None:
    """`run` writes `rows[day]` rows of `table` for each day (0: the day published empty)."""
    spark = run.lake.spark
    columns = contract.of(table).columns
    frames = [
        spark.range(n).selectExpr(
            *[
                f"CAST({'id' if i == 0 else 'NULL'} AS {kind}) AS `{name}`"
                for i, (name, kind) in enumerate(columns)
            ],
            f"'{day.isoformat()}' AS extract_date",
        )
        for day, n in rows.items()
    ]
    df = frames[0]
    for frame in frames[1:]:
        df = df.unionByName(frame)
    outputs = run.write(df, table, sorted(rows))
    run.publish(outputs)
    run.save()


def history_of_publishes(lake: Lake, catalog: Any) -> None:
    """Days and ranges published, replaced, emptied, re-added, and one publish rolled forward."""

    def run() -> Run:
        made = Run("test_job", lake, catalog)
        made.prepare([T1, T2])
        return made

    write_and_publish(run(), T1, {DAYS[0]: 2, DAYS[1]: 2, DAYS[2]: 2})  # a range
    write_and_publish(run(), T1, {DAYS[1]: 3})  # a rerun of one day
    write_and_publish(run(), T1, {DAYS[2]: 0})  # the day became empty: removed
    write_and_publish(run(), T1, {DAYS[2]: 1})  # and came back
    write_and_publish(run(), T2, {DAYS[0]: 1, DAYS[3]: 1})
    # a run killed after writing its intent: the next run's prepare rolls it forward
    killed = Run("test_job", lake, catalog)
    (output,) = killed.write(
        lake.spark.range(1).selectExpr(
            *[
                f"CAST(NULL AS {k}) AS `{n}`"
                for n, k in __import__("retail_etl.contract", fromlist=["x"]).of(T1).columns
            ],
            f"'{DAYS[5].isoformat()}' AS extract_date",
        ),
        T1,
        [DAYS[5]],
    )
    intent = f"{lake.root}/_audit/publishing/{killed.run_id}.json"
    lake.write_text(intent, json.dumps({"run_id": killed.run_id, "outputs": [output.as_record()]}))
    rolling = run()
    assert rolling.rolled_forward == [killed.run_id]
    rolling.save()


def locations(catalog: Any) -> dict[tuple[str, date], str]:
    return {
        (t.name, day): where
        for t in (T1, T2)
        for day, where in catalog.day_locations(t, DAYS).items()
    }


@pytest.fixture
def glue_catalog(aws_env) -> Iterator[Callable[[], GlueCatalog]]:  # type: ignore[no-untyped-def]
    """A Glue catalog as the stack declares it; calling it again is a redeploy after the
    catalog was lost (database and tables anew, no partitions)."""
    with mock_aws():
        client = boto3.client("glue")

        def declare() -> GlueCatalog:
            with contextlib.suppress(client.exceptions.EntityNotFoundException):
                client.delete_database(Name="hist-retail")
            client.create_database(DatabaseInput={"Name": "hist-retail"})
            for t in (T1, T2):
                client.create_table(
                    DatabaseName="hist-retail",
                    TableInput={
                        "Name": t.name,
                        "PartitionKeys": [{"Name": "extract_date", "Type": "string"}],
                        "StorageDescriptor": {"Location": f"s3://lake/{t.path}/"},
                    },
                )
            return GlueCatalog(client, "hist-retail")

        yield declare


@pytest.mark.integration
def test_a_dropped_local_catalog_is_restored_day_for_day(lake, catalog, spark) -> None:  # type: ignore[no-untyped-def]
    history_of_publishes(lake, catalog)
    before = locations(catalog)
    assert (T1.name, DAYS[2]) in before and (T1.name, DAYS[5]) in before
    assert (T1.name, DAYS[6]) not in before

    spark.sql(f"DROP DATABASE `{catalog.database}` CASCADE")  # the files stay
    fresh = HiveCatalog(spark, catalog.database)
    done = restore(lake, fresh, [T1, T2])

    assert locations(fresh) == before
    assert done.set == {T1.name: 4, T2.name: 2}
    again = restore(lake, fresh, [T1, T2])  # nothing left to do
    assert (again.set, again.removed) == ({}, {})
    assert spark.table(f"`{catalog.database}`.`{T1.name}`").count() == 2 + 3 + 1 + 1


@pytest.mark.integration
def test_a_lost_glue_catalog_is_restored_day_for_day(lake, glue_catalog) -> None:  # type: ignore[no-untyped-def]
    catalog = glue_catalog()
    history_of_publishes(lake, catalog)
    before = locations(catalog)

    fresh = glue_catalog()  # the database and its tables declared anew, without a partition
    assert locations(fresh) == {}
    restore(lake, fresh, [T1, T2])

    assert locations(fresh) == before


@pytest.mark.integration
def test_restore_moves_forward_only_and_skips_folders_gone(lake, catalog) -> None:  # type: ignore[no-untyped-def]
    history_of_publishes(lake, catalog)
    before = locations(catalog)
    # a run newer than every record (still running, say) has published day 0 already
    newer = lake.run_day_location(T1, "29990101T000000000000Z-ffffff", DAYS[0])
    catalog.set_days(T1, [DayChange(DAYS[0], newer, before[(T1.name, DAYS[0])])])
    gone = before[(T2.name, DAYS[3])]
    lake.remove(gone)  # a published folder removed by hand

    done = restore(lake, catalog, [T1, T2])

    after = locations(catalog)
    assert run_of(after[(T1.name, DAYS[0])]) == "29990101T000000000000Z-ffffff"  # left alone
    assert [run_of(m) for m in done.missing] == [run_of(gone)]
    assert after[(T2.name, DAYS[3])] == gone  # nothing older to fall back on: left as it was


@pytest.mark.integration
def test_the_command_restores_the_local_catalog(job_env, stack, spark) -> None:  # type: ignore[no-untyped-def]
    # the local environment's own lake and catalog database, as `make catalog-restore` uses them
    lake = Lake(spark, str(job_env))
    # that database is shared by the suite: start from an empty one, as a fresh lake would
    spark.sql(f"DROP DATABASE IF EXISTS `{stack.catalog_database}` CASCADE")
    catalog = HiveCatalog(spark, stack.catalog_database)
    history_of_publishes(lake, catalog)
    before = locations(catalog)
    spark.sql(f"DROP DATABASE `{stack.catalog_database}` CASCADE")

    assert cli(["catalog", "restore"]) == 0

    assert locations(HiveCatalog(spark, stack.catalog_database)) == before


def test_restore_on_glue_wants_an_s3_lake(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli(["catalog", "restore", "--glue", "--lake-root", "/tmp/lake"]) == 2
    assert "--glue needs --lake-root s3://BUCKET, not '/tmp/lake'" in capsys.readouterr().err
