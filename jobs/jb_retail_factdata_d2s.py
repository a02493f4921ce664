"""Glue job `jb_retail_factdata_d2s`: one business day of a fact table, PostgreSQL -> raw Parquet.

Reads the day in one snapshot of the source, writes it into this run's own folder, checks it
against the snapshot's count, control sums and key (exit 1 on a failed gate), then publishes it
through the catalog.

Arguments: --TARGET_DATA balju|sales --EXTRACT_DATE YYYY-MM-DD
           [--SOURCE_SECRET_ID id] (on Glue: Secrets Manager secret with the source's credentials)
           [--LAKE_ROOT s3://bucket] (default s3://hist-retail on Glue, .local/lake locally)
           [--CATALOG tables|crawlers] (default tables; crawlers: write in place for crawlers)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from retail_etl.audit import Run
from retail_etl.jobrun import run_glue_job
from retail_etl.params import D2sParams
from retail_etl.runtime import Runtime
from retail_etl.settings import LocalStack, source_from_secrets_manager
from retail_etl.steps import StepResult, extract_day

JOB_NAME = "jb_retail_factdata_d2s"


def extract(runtime: Runtime, run: Run, stack: LocalStack, params: D2sParams) -> list[StepResult]:
    source = (
        source_from_secrets_manager(params.source_secret_id)
        if params.source_secret_id
        else stack.source
    )
    return [extract_day(runtime.spark, source, run, params.target, params.extract_date)]


def main(argv: Sequence[str] | None = None) -> int:
    return run_glue_job(
        JOB_NAME, sys.argv[1:] if argv is None else argv, D2sParams.from_argv, extract, __doc__
    )


if __name__ == "__main__":
    sys.exit(main())
