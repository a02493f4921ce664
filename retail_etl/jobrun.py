"""The shared body of the Glue entrypoints: parse, start the runtime, do the work, commit.

Errors a user can act on become one line on stderr and exit code 1 (2 for bad arguments);
nothing is written before the arguments are valid.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from retail_etl import glue_catalog
from retail_etl.errors import ArgumentError, EtlError, one_line
from retail_etl.lake import Lake
from retail_etl.params import DEFAULT_LAKE_ROOT, JobParams
from retail_etl.runtime import Runtime, on_glue
from retail_etl.settings import CATALOG_DATABASE_GLUE, LocalStack
from retail_etl.steps import StepResult

P = TypeVar("P", bound=JobParams)
Work = Callable[[Runtime, Lake, LocalStack, P], list[StepResult]]


def forget_emptied_days(glue: Any, results: Sequence[StepResult], day: date) -> list[str]:
    """On Glue: the catalog forgets the day of each table a step left without rows (the lake
    already has no folder for it). Returns the tables touched."""
    emptied = sorted({result.table for result in results if result.rows_out == 0})
    for table in emptied:
        glue_catalog.forget_days(glue, CATALOG_DATABASE_GLUE, table, [day])
    return emptied


def run_glue_job(
    job_name: str,
    argv: Sequence[str],
    parse: Callable[[Sequence[str]], P],
    work: Work[P],
    usage: str | None = None,
) -> int:
    if {"-h", "--help"} & set(argv):
        print((usage or job_name).strip())
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per gateway call
    try:
        params = parse(argv)
    except ArgumentError as err:
        print(f"{job_name}: error: {err}", file=sys.stderr)
        return 2
    stack = LocalStack.from_environ(os.environ)
    lake_root = params.lake_root or (
        DEFAULT_LAKE_ROOT if on_glue(params.glue_args) else stack.lake_root
    )
    try:
        runtime = Runtime.start(job_name, params.glue_args, stack)
        results = work(runtime, Lake(runtime.spark, lake_root), stack, params)
        if on_glue(params.glue_args):
            import boto3

            forget_emptied_days(boto3.client("glue"), results, params.extract_date)
        runtime.commit()
    except EtlError as err:
        print(f"{job_name}: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # anything else still ends as one line, with the trace in the log
        logging.getLogger(job_name).exception("unexpected failure")
        print(f"{job_name}: error: {one_line(err)}", file=sys.stderr)
        return 1
    for result in results:
        written = result.note or f"{result.rows_out:,} rows written to {result.location}"
        print(f"{job_name}: {result.step} {params.day}: {written} in {result.seconds:.1f} s")
    return 0
