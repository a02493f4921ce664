"""On Glue: the Data Catalog calls the jobs make themselves.

The crawlers add partitions but never remove one (CRAWL_NEW_FOLDERS_ONLY leaves deleted folders
alone), so a job that empties a day forgets that day's partition here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from retail_etl.errors import EtlError

# BatchDeletePartition takes at most 25 partitions a call (Glue API reference).
BATCH_DELETE_MAX = 25


def forget_days(glue: Any, database: str, table: str, days: Iterable[date]) -> int:
    """Delete `table`'s partitions of `days`; returns how many calls were made.

    A table the catalog does not have yet has no partitions to forget, and a day without a
    partition is already forgotten: neither is an error.
    """
    values = [{"Values": [day.isoformat()]} for day in sorted(set(days))]
    calls = 0
    failed = []
    for start in range(0, len(values), BATCH_DELETE_MAX):
        try:
            answer = glue.batch_delete_partition(
                DatabaseName=database,
                TableName=table,
                PartitionsToDelete=values[start : start + BATCH_DELETE_MAX],
            )
        except glue.exceptions.EntityNotFoundException:
            return calls
        calls += 1
        failed += [
            error
            for error in answer.get("Errors", [])
            if error["ErrorDetail"]["ErrorCode"] != "EntityNotFoundException"
        ]
    if failed:
        first = failed[0]
        raise EtlError(
            f"could not remove the catalog partition {database}.{table} "
            f"{first['PartitionValues']}: {first['ErrorDetail']['ErrorMessage']}"
        )
    return calls
