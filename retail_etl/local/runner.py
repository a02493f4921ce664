"""The local batch: the flow of `retail_etl.flow` for a day or a range, in one Spark session.

Each branch runs its steps in order, as the Step Functions state machine does in AWS: each step
is a run of its job, with the arguments the state machine would give it, parsed by the job's
own parser; it writes, checks its gates and publishes through the local catalog. The first
failing step stops the batch and is named in the error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession

from retail_etl.audit import Run
from retail_etl.catalogs import HiveCatalog
from retail_etl.errors import StepFailedError
from retail_etl.flow import FLOW, FROM, LOOKBACK, TO, Step, argv
from retail_etl.lake import Lake
from retail_etl.params import DayRange
from retail_etl.settings import SourceDb
from retail_etl.steps import StepResult

log = logging.getLogger(__name__)


@dataclass
class DailyBatch:
    """Runs both branches for a day or a range and keeps every step's result for the summary."""

    spark: SparkSession
    source: SourceDb
    lake: Lake
    database: str
    lookback: int = 0  # days before the first day that each step re-checks (`--LOOKBACK_DAYS`)
    progress: Callable[[StepResult], None] = lambda result: None
    results: list[StepResult] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    # (job, arguments) of every step started, in order: what the state machine would start
    started: list[tuple[str, list[str]]] = field(default_factory=list)

    def run(self, days: DayRange | date) -> list[StepResult]:
        days = days if isinstance(days, DayRange) else DayRange.one(days)
        for branch in FLOW:
            for step in branch.steps:
                self._step(f"{branch.name}: {step.name}", step, days)
        return self.results

    def _step(self, name: str, step: Step, days: DayRange) -> None:
        log.info("step %s: starting", name)
        window = {FROM: days.first.isoformat(), TO: days.last.isoformat()}
        arguments = argv(step.arguments({**window, LOOKBACK: str(self.lookback)}))
        self.started.append((step.job.name, arguments))
        params = step.job.parse(arguments)
        run = Run(
            step.job.name, self.lake, HiveCatalog(self.spark, self.database), days=params.days.days
        )
        self.runs.append(run)
        try:
            produced = step.job.work(self.spark, run, self.source, params)
        except Exception as err:
            run.save(err)
            raise StepFailedError(name, err) from err
        run.save()
        for result in produced:
            self.results.append(result)
            self.progress(result)


def format_summary(results: list[StepResult], days: DayRange | date, seconds: float) -> str:
    """A table of every step: rows in and out, seconds, and where the output went; for a range
    or a night that restated days, then the rows each step published per day."""
    days = days if isinstance(days, DayRange) else DayRange.one(days)
    header = f"{'step':<34} {'rows in':>10} {'rows out':>10} {'seconds':>8}  output"
    lines = [f"batch for {days}", header, "-" * len(header)]
    for r in results:
        rows_in = "" if r.rows_in is None else f"{r.rows_in:,}"
        rows_out = f"{r.rows_out:,}"
        lines.append(
            f"{r.step:<34} {rows_in:>10} {rows_out:>10} {r.seconds:>8.1f}  {r.location}"
            + (f"  ({r.note})" if r.note else "")
            + (f"\n{'':<34} {r.restated}" if r.restated else "")
        )
    lines.append(f"{len(results)} steps in {seconds:.1f} s")
    shown = sorted(set(days.days) | {d for r in results for d in r.rows_by_day})
    if len(shown) > 1 and results:  # a range, or a day with restated days before it
        names = [r.step for r in results]
        width = max(len(n) for n in names) + 1
        lines += ["", "rows per day (-: not written)"]
        lines.append(f"{'day':<10}" + "".join(f"{n:>{width}}" for n in names))
        for day in shown:
            lines.append(
                f"{day.isoformat():<10}"
                + "".join(
                    f"{r.rows_by_day[day]:>{width},}" if day in r.rows_by_day else f"{'-':>{width}}"
                    for r in results
                )
            )
    return "\n".join(lines)
