"""The shared body of the Glue entrypoints: parse, start the runtime, do the work, commit.

Errors a user can act on become one line on stderr and exit code 1 (2 for bad arguments);
nothing is written before the arguments are valid, and nothing is published unless every gate
passed. Each run leaves its record under the lake's `_audit/runs/`, failed or not.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import date

from retail_etl.audit import Run
from retail_etl.catalogs import Catalog, GlueCatalog, HiveCatalog
from retail_etl.errors import ArgumentError, EtlError, one_line
from retail_etl.flow import Job
from retail_etl.lake import Lake
from retail_etl.params import DEFAULT_LAKE_ROOT
from retail_etl.runtime import Runtime, on_glue
from retail_etl.settings import CATALOG_DATABASE_GLUE, LocalEnvironment


def catalog_for(runtime: Runtime, stack: LocalEnvironment, glue: bool) -> Catalog:
    """The Glue Data Catalog on Glue; Spark's Hive catalog elsewhere."""
    if glue:
        import boto3

        return GlueCatalog(boto3.client("glue"), CATALOG_DATABASE_GLUE)
    return HiveCatalog(runtime.spark, stack.catalog_database)


def run_glue_job(job: Job, argv: Sequence[str], usage: str | None = None) -> int:
    """Run `job` as its Glue entrypoint does, with `argv` (its arguments, without the script)."""
    job_name = job.name
    if {"-h", "--help"} & set(argv):
        print((usage or job_name).strip())
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per gateway call
    try:
        params = job.parse(argv)
        stack = LocalEnvironment.from_environ(os.environ)
    except ArgumentError as err:
        print(f"{job_name}: error: {err}", file=sys.stderr)
        return 2
    glue = on_glue(params.glue_args)
    lake_root = params.lake_root or (DEFAULT_LAKE_ROOT if glue else stack.lake_root)
    run: Run | None = None
    try:
        started = time.monotonic()
        runtime = Runtime.start(job_name, params.glue_args, stack)
        lake = Lake(runtime.spark, lake_root)
        lake.check_writable()
        run = Run(
            job_name,
            lake,
            catalog_for(runtime, stack, glue),
            glue_job_run_id=params.glue_args.get("JOB_RUN_ID"),
            in_place=params.catalog_mode == "crawlers",
            days=params.days.days,
        )
        run.phases["start"] = round(time.monotonic() - started, 3)  # Spark, the lake probe
        results = job.work(runtime.spark, run, stack.source, params)
        record = run.save()
        runtime.commit()
    except Exception as err:
        if run is not None:
            _save_failed(run, err, job_name)
        if isinstance(err, EtlError):
            print(f"{job_name}: error: {err}", file=sys.stderr)
        else:  # anything else still ends as one line, with the trace in the log
            logging.getLogger(job_name).exception("unexpected failure")
            print(f"{job_name}: error: {one_line(err)}", file=sys.stderr)
        return 1
    if glue:
        print(f"{job_name}: run record {json.dumps(record)}")
    for result in results:
        written = result.note or f"{result.rows_out:,} rows published from {result.location}"
        print(f"{job_name}: {result.step} {params.day}: {written} in {result.seconds:.1f} s")
        if result.restated:
            lookback = f"look-back of {params.lookback_days} days"
            print(f"{job_name}: {result.step} {lookback}: {result.restated}")
        if len(result.rows_by_day) > 1:
            print(f"{job_name}: {result.step} rows per day: {rows_per_day(result.rows_by_day)}")
    print(f"{job_name}: run {run.run_id}: {len(run.gate_results)} gates passed")
    return 0


def rows_per_day(rows: Mapping[date, int]) -> str:
    """`2015-01-01 120, 2015-01-02 0, ...`: every day of a range, empty ones included."""
    return ", ".join(f"{day} {n:,}" for day, n in sorted(rows.items()))


def _save_failed(run: Run, err: BaseException, job_name: str) -> None:
    try:
        record = run.save(err)
    except Exception as also:  # the lake itself may be what failed
        logging.getLogger(job_name).warning("could not save the run record: %s", one_line(also))
        return
    if run.glue_job_run_id:
        print(f"{job_name}: run record {json.dumps(record)}")
