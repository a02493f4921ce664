"""The local daily batch: the DESIGN.md graph for one date in one Spark session.

Each branch runs d2s -> s2s, as the Step Functions state machine does in AWS, each step a run
of its own that writes, checks its gates and publishes through the local catalog; the first
failing step stops the batch and is named in the error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession

from retail_etl import steps
from retail_etl.audit import Run
from retail_etl.errors import StepFailedError
from retail_etl.lake import Lake
from retail_etl.publish import HiveCatalog
from retail_etl.settings import SourceDb
from retail_etl.steps import StepResult

log = logging.getLogger(__name__)

D2S_JOB = "jb_retail_factdata_d2s"
S2S_JOB = {"balju": "jb_retail_silver_dailybalju_s2s", "sales": "jb_retail_silver_dailysales_s2s"}


@dataclass
class DailyBatch:
    """Runs both branches for one day and keeps every step's result for the summary."""

    spark: SparkSession
    source: SourceDb
    lake: Lake
    database: str
    progress: Callable[[StepResult], None] = lambda result: None
    results: list[StepResult] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    day: date = date.min

    def run(self, day: date) -> list[StepResult]:
        self.day = day
        for branch in ("balju", "sales"):
            self._run_branch(branch, day)
        return self.results

    def _run_branch(self, branch: str, day: date) -> None:
        self._step(
            f"d2s:{branch}",
            D2S_JOB,
            lambda run: [steps.extract_day(self.spark, self.source, run, branch, day)],
        )
        if branch == "balju":
            self._step(
                "s2s:dailybalju", S2S_JOB[branch], lambda run: [steps.build_dailybalju(run, day)]
            )
        else:
            self._step(
                "s2s:dailysales", S2S_JOB[branch], lambda run: steps.build_dailysales(run, day)
            )

    def _step(self, name: str, job: str, work: Callable[[Run], list[StepResult]]) -> None:
        log.info("step %s: starting", name)
        run = Run(job, self.lake, HiveCatalog(self.spark, self.database), days=[self.day])
        self.runs.append(run)
        try:
            produced = work(run)
        except Exception as err:
            run.save(err)
            raise StepFailedError(name, err) from err
        run.save()
        for result in produced:
            self.results.append(result)
            self.progress(result)


def format_summary(results: list[StepResult], day: date, seconds: float) -> str:
    """A table of every step: rows in and out, seconds, and where the output went."""
    header = f"{'step':<34} {'rows in':>10} {'rows out':>10} {'seconds':>8}  output"
    lines = [f"daily batch for {day.isoformat()}", header, "-" * len(header)]
    for r in results:
        rows_in = "" if r.rows_in is None else f"{r.rows_in:,}"
        rows_out = f"{r.rows_out:,}"
        lines.append(
            f"{r.step:<34} {rows_in:>10} {rows_out:>10} {r.seconds:>8.1f}  {r.location}"
            + (f"  ({r.note})" if r.note else "")
        )
    lines.append(f"{len(results)} steps in {seconds:.1f} s")
    return "\n".join(lines)
