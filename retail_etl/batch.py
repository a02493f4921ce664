"""The local daily batch: the DESIGN.md graph for one date in one Spark session.

Each branch runs d2s -> crawl -> s2s -> crawl(s), as the Step Functions state machine does in
AWS; the first failing step stops the batch and is named in the error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession

from retail_etl import catalog, steps
from retail_etl import lake as tables
from retail_etl.errors import StepFailedError
from retail_etl.lake import Lake, LakeTable
from retail_etl.settings import SourceDb
from retail_etl.steps import StepResult

log = logging.getLogger(__name__)

SILVER_OF = {
    "balju": (tables.SILVER_DAILYBALJU,),
    "sales": (
        tables.SILVER_DAILYSALES_ITEM,
        tables.SILVER_DAILYSALES_STORE,
        tables.SILVER_DAILYSALES_HOURLY,
    ),
}


@dataclass
class DailyBatch:
    """Runs both branches for one day and keeps every step's result for the summary."""

    spark: SparkSession
    source: SourceDb
    lake: Lake
    database: str
    progress: Callable[[StepResult], None] = lambda result: None
    results: list[StepResult] = field(default_factory=list)

    def run(self, day: date) -> list[StepResult]:
        for branch in ("balju", "sales"):
            self._run_branch(branch, day)
        return self.results

    def _run_branch(self, branch: str, day: date) -> None:
        self._step(
            f"d2s:{branch}",
            lambda: [steps.extract_day(self.spark, self.source, self.lake, branch, day)],
        )
        self._crawl(tables.FACTDATA[branch])
        if branch == "balju":
            self._step("s2s:dailybalju", lambda: [steps.build_dailybalju(self.lake, day)])
        else:
            self._step("s2s:dailysales", lambda: steps.build_dailysales(self.lake, day))
        for table in SILVER_OF[branch]:
            self._crawl(table)

    def _crawl(self, table: LakeTable) -> None:
        def crawl_one() -> list[StepResult]:
            started = time.monotonic()
            found = catalog.crawl(self.spark, self.lake, table, self.database)
            note = "created" if found.created else "updated"
            if found.schema_differences:
                note += f", {len(found.schema_differences)} schema change(s) logged, not applied"
            return [
                StepResult(
                    step=f"crawl:{table.name}",
                    table=table.name,
                    rows_in=None,
                    rows_out=found.partitions,
                    seconds=time.monotonic() - started,
                    location=f"{self.database}.{table.name}",
                    note=f"{note}; {found.partitions} partition(s)",
                )
            ]

        self._step(f"crawl:{table.name}", crawl_one)

    def _step(self, name: str, work: Callable[[], list[StepResult]]) -> None:
        log.info("step %s: starting", name)
        try:
            produced = work()
        except Exception as err:
            raise StepFailedError(name, err) from err
        for result in produced:
            self.results.append(result)
            self.progress(result)


def format_summary(results: list[StepResult], day: date, seconds: float) -> str:
    """A table of every step: rows in and out, seconds, and where the output went."""
    header = f"{'step':<34} {'rows in':>10} {'rows out':>10} {'seconds':>8}  output"
    lines = [f"daily batch for {day.isoformat()}", header, "-" * len(header)]
    for r in results:
        rows_in = "" if r.rows_in is None else f"{r.rows_in:,}"
        rows_out = f"{r.rows_out:,}" + (" part." if r.step.startswith("crawl:") else "")
        lines.append(
            f"{r.step:<34} {rows_in:>10} {rows_out:>10} {r.seconds:>8.1f}  {r.location}"
            + (f"  ({r.note})" if r.note else "")
        )
    lines.append(f"{len(results)} steps in {seconds:.1f} s")
    return "\n".join(lines)
