"""The nightly flow, defined once: the Glue jobs, the branches and each step's job arguments.

Both runners are derived from `FLOW`: the local batch (`retail_etl.local.runner`) parses each step's
arguments with the job's own parser and runs the job's own work in one Spark session, and the
Step Functions definition (`orchestration.statemachine`) turns each step into a Glue job task
with the same arguments. A change to the flow is made here, once.

Every step is given its days as a range, `--EXTRACT_DATE_FROM A --EXTRACT_DATE_TO B` (one day:
A = B), and its look-back, `--LOOKBACK_DAYS N`, so a night and a backfill run the same steps with
the same arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession

from retail_etl import lake, steps
from retail_etl.audit import Run
from retail_etl.lake import LakeTable
from retail_etl.params import D2sParams, JobParams, S2sParams
from retail_etl.settings import SourceDb, source_from_secrets_manager
from retail_etl.steps import StepResult

FROM, TO = "--EXTRACT_DATE_FROM", "--EXTRACT_DATE_TO"
LOOKBACK = "--LOOKBACK_DAYS"  # days before FROM that each job re-checks and restates

# What a job does once started: (Spark session, the run, the local source, its parameters).
Work = Callable[[SparkSession, Run, SourceDb, Any], list[StepResult]]


@dataclass(frozen=True)
class Job:
    """A Glue job: its name, its argument parser and what it does once started."""

    name: str
    parse: Callable[[Sequence[str]], JobParams]
    work: Work


def _extract(spark: SparkSession, run: Run, local: SourceDb, params: D2sParams) -> list[StepResult]:
    source = (
        source_from_secrets_manager(params.source_secret_id) if params.source_secret_id else local
    )
    return [
        steps.extract_days(
            spark,
            source,
            run,
            params.target,
            params.days,
            params.source_max_connections,
            params.window,
        )
    ]


def _build_dailybalju(
    spark: SparkSession, run: Run, local: SourceDb, params: S2sParams
) -> list[StepResult]:
    return [steps.build_dailybalju(run, params.days, params.window)]


def _build_dailysales(
    spark: SparkSession, run: Run, local: SourceDb, params: S2sParams
) -> list[StepResult]:
    return steps.build_dailysales(run, params.days, params.window)


D2S = Job("jb_retail_factdata_d2s", D2sParams.from_argv, _extract)
BALJU_S2S = Job("jb_retail_silver_dailybalju_s2s", S2sParams.from_argv, _build_dailybalju)
SALES_S2S = Job("jb_retail_silver_dailysales_s2s", S2sParams.from_argv, _build_dailysales)
JOBS = {job.name: job for job in (D2S, BALJU_S2S, SALES_S2S)}


@dataclass(frozen=True)
class Step:
    """One job run of a branch: the state's name and the job's fixed arguments."""

    name: str
    job: Job
    fixed: tuple[tuple[str, str], ...] = ()
    publishes: tuple[LakeTable, ...] = ()  # what the crawler option crawls after the step

    def arguments(self, days: Mapping[str, str], catalog_mode: str = "tables") -> dict[str, str]:
        """The job's arguments: the fixed ones, then the days (`--EXTRACT_DATE_FROM`,
        `--EXTRACT_DATE_TO` and `--LOOKBACK_DAYS`, as values or, in the ASL, as paths), then the
        catalog mode when it is not the default."""
        arguments = {**dict(self.fixed), **days}
        if catalog_mode != "tables":
            arguments["--CATALOG"] = catalog_mode  # write in place; the crawlers catalogue it
        return arguments


@dataclass(frozen=True)
class Branch:
    name: str
    steps: tuple[Step, ...]


FLOW = (
    Branch(
        "balju",
        (
            Step("extract (d2s)", D2S, (("--TARGET_DATA", "balju"),), (lake.FACTDATA["balju"],)),
            Step("build silver (s2s)", BALJU_S2S, (), (lake.SILVER_DAILYBALJU,)),
        ),
    ),
    Branch(
        "sales",
        (
            Step("extract (d2s)", D2S, (("--TARGET_DATA", "sales"),), (lake.FACTDATA["sales"],)),
            Step(
                "build silver (s2s)",
                SALES_S2S,
                (),
                (
                    lake.SILVER_DAILYSALES_ITEM,
                    lake.SILVER_DAILYSALES_STORE,
                    lake.SILVER_DAILYSALES_HOURLY,
                ),
            ),
        ),
    ),
)


def argv(arguments: Mapping[str, str]) -> list[str]:
    """`{"--A": "1", "--B": "2"}` as a command line, `["--A", "1", "--B", "2"]`."""
    return [token for pair in arguments.items() for token in pair]
