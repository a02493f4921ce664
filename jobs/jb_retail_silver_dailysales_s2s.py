"""Glue job `jb_retail_silver_dailysales_s2s`: the day's raw sales -> the three dailysales tables.

Reads the published raw day through the catalog, writes into this run's own folder, checks the
silver totals against the raw day's (exit 1 on a failed gate), then publishes.

Arguments: --EXTRACT_DATE YYYY-MM-DD [--LAKE_ROOT s3://bucket] [--CATALOG tables|crawlers]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from retail_etl.audit import Run
from retail_etl.jobrun import run_glue_job
from retail_etl.params import S2sParams
from retail_etl.runtime import Runtime
from retail_etl.settings import LocalStack
from retail_etl.steps import StepResult, build_dailysales

JOB_NAME = "jb_retail_silver_dailysales_s2s"


def build(runtime: Runtime, run: Run, stack: LocalStack, params: S2sParams) -> list[StepResult]:
    return build_dailysales(run, params.extract_date)


def main(argv: Sequence[str] | None = None) -> int:
    return run_glue_job(
        JOB_NAME, sys.argv[1:] if argv is None else argv, S2sParams.from_argv, build, __doc__
    )


if __name__ == "__main__":
    sys.exit(main())
