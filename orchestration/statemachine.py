"""The Step Functions definition of the daily batch, built from `resources`, and its diagram.

`python -m orchestration.statemachine` (`make statemachine`) writes the checked-in ASL (two: the
default and the crawler option) and the Mermaid diagram the README shows; a test fails when one
is stale.

Shape, per branch: d2s job (.sync) -> s2s job (.sync); each job writes, checks its gates and
publishes its days through the catalog itself. The crawler option (`CATALOG=crawlers`) is the
seed's flow: d2s -> crawl raw -> s2s -> crawl silver (the three sales crawls in a nested
Parallel). The state carries only `EXTRACT_DATE` and the small parts of each task result that
later states read; every failure ends in the top-level Fail state with the failed step's name,
error and cause.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestration import resources as r
from retail_etl import lake

State = dict[str, Any]
States = dict[str, State]

HERE = Path(__file__).resolve().parent
ASL_PATH = HERE / "statemachine" / "hist_retail_dailybatch.asl.json"
CRAWLERS_ASL_PATH = HERE / "statemachine" / "hist_retail_dailybatch.crawlers.asl.json"
MERMAID_PATH = HERE / "statemachine" / "hist_retail_dailybatch.mmd"

GLUE_START_JOB_RUN_SYNC = "arn:aws:states:::glue:startJobRun.sync"
GLUE_START_CRAWLER = "arn:aws:states:::aws-sdk:glue:startCrawler"
GLUE_GET_CRAWLER = "arn:aws:states:::aws-sdk:glue:getCrawler"
S3_LIST_OBJECTS = "arn:aws:states:::aws-sdk:s3:listObjectsV2"

# Placeholders of the definition that CloudFormation fills in (DefinitionSubstitutions), with
# the template parameter that gives each its value.
SUBSTITUTIONS = {"LakeBucket": "LakeBucket"}

# Errors of StartJobRun worth another try: the job is at its concurrency limit, or AWS throttles.
# The optimised `.sync` integration reports throttling as Glue.AWSGlueException with the cause
# "Rate exceeded (... Error Code: ThrottlingException ...)", not as Glue.ThrottlingException.
GLUE_RETRYABLE = [
    "Glue.ConcurrentRunsExceededException",
    "Glue.ThrottlingException",
    "Glue.AWSGlueException",
    "Glue.InternalServiceException",
    "Glue.OperationTimeoutException",
]
FAILED = "Daily batch failed"


def _catch(handler: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": handler}]


def _name_failure(error: str, step: str, failed: str) -> State:
    """Re-raise a caught error under a name of ours, with the step in the cause.

    Names starting with `States.` are reserved for the service, so a caught States.TaskFailed
    is not re-raised as it is: it becomes part of the cause. The whole error object is
    formatted, because an error may come without a Cause, and a path to a missing field would
    itself fail (States.Runtime) and lose the step's error.
    """
    return {
        "Type": "Pass",
        "Parameters": {
            "Error": error,
            "Cause.$": f"States.Format('{step}: {{}}', States.JsonToString($.error))",
        },
        "ResultPath": "$.error",
        "Next": failed,
    }


def glue_job_states(
    prefix: str, step: str, job: str, arguments: dict[str, str], next_state: str, failed: str
) -> States:
    """A Glue job run (.sync) and the state that names its failure."""
    name = f"{prefix}: {step}"
    on_error = f"{name} failed"
    return {
        name: {
            "Type": "Task",
            "Comment": f"Run Glue job {job} and wait for it to end",
            "Resource": GLUE_START_JOB_RUN_SYNC,
            "Parameters": {"JobName": job, "Arguments": arguments},
            # A finished job run is a large object (timestamps, arguments...): keep id and state.
            "ResultSelector": {
                "JobName.$": "$.JobName",
                "Id.$": "$.Id",
                "State.$": "$.JobRunState",
            },
            "ResultPath": f"$.runs.{step.split()[-1].strip('()')}",
            "TimeoutSeconds": r.GLUE_JOB_TASK_TIMEOUT,
            "Retry": [
                {
                    "ErrorEquals": GLUE_RETRYABLE,
                    "IntervalSeconds": 30,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 5,
                    "MaxDelaySeconds": 600,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": _catch(on_error),
            "Next": next_state,
        },
        on_error: _name_failure("GlueJobFailed", f"{name} [{job}]", failed),
    }


def _get_crawler(name: str, keep: dict[str, str], next_state: str, on_error: str) -> State:
    """GetCrawler, keeping only `keep` of its answer under `$.crawl.Crawler`."""
    return {
        "Type": "Task",
        "Resource": GLUE_GET_CRAWLER,
        "Parameters": {"Name": name},
        "ResultSelector": keep,
        "ResultPath": "$.crawl.Crawler",
        "TimeoutSeconds": r.SDK_TASK_TIMEOUT,
        "Retry": [
            {
                "ErrorEquals": ["Glue.ThrottlingException", "States.Timeout"],
                "IntervalSeconds": 5,
                "BackoffRate": 2.0,
                "MaxAttempts": 5,
                "JitterStrategy": "FULL",
            }
        ],
        "Catch": _catch(on_error),
        "Next": next_state,
    }


def crawl_states(prefix: str, crawler: r.Crawler, next_state: str, failed: str) -> States:
    """Start a crawler, poll it until READY (bounded), then go on only if its crawl SUCCEEDED.

    A day that the job left without files is not crawled: there is nothing to add (the job
    removed any earlier partition of that day), and a crawler whose first crawl finds nothing
    never creates its table with CRAWL_NEW_FOLDERS_ONLY. So a table's first crawl always has
    data. STOPPING is not finished: the catalog is updated only once the crawler is READY again.
    """
    name = crawler.name
    listed = crawl_entry(prefix, crawler)
    has_files = f"{prefix}: {name} has files?"
    start = f"{prefix}: start {name}"
    wait = f"{prefix}: wait for {name}"
    poll = f"{prefix}: poll {name}"
    is_ready = f"{prefix}: {name} ready?"
    count = f"{prefix}: count poll of {name}"
    result = f"{prefix}: last crawl of {name}"
    succeeded = f"{prefix}: {name} succeeded?"
    explain = f"{prefix}: {name} failed"
    stuck = f"{prefix}: {name} still busy"
    on_error = f"{prefix}: crawl of {name} failed"
    return {
        listed: {
            "Type": "Task",
            "Comment": f"Did the job leave files for the day under {crawler.table.path}/?",
            "Resource": S3_LIST_OBJECTS,
            "Parameters": {
                "Bucket": "${LakeBucket}",
                "Prefix.$": (
                    f"States.Format('{crawler.table.path}/{lake.PARTITION_COLUMN}={{}}/', "
                    "$.EXTRACT_DATE)"
                ),
                "MaxKeys": 1,
            },
            "ResultSelector": {"KeyCount.$": "$.KeyCount"},
            "ResultPath": "$.crawl",
            "TimeoutSeconds": r.SDK_TASK_TIMEOUT,
            "Retry": [
                {
                    "ErrorEquals": ["S3.S3Exception", "States.Timeout"],
                    "IntervalSeconds": 5,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 3,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": _catch(on_error),
            "Next": has_files,
        },
        has_files: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.crawl.KeyCount", "NumericEquals": 0, "Next": next_state}],
            "Default": start,
        },
        start: {
            "Type": "Task",
            "Resource": GLUE_START_CRAWLER,
            "Parameters": {"Name": name},
            "ResultSelector": {"Polls": 0},
            "ResultPath": "$.crawl",
            "TimeoutSeconds": r.SDK_TASK_TIMEOUT,
            "Retry": [
                {
                    # Another run (or a person) is crawling: wait for it rather than fail.
                    "ErrorEquals": ["Glue.CrawlerRunningException"],
                    "IntervalSeconds": 60,
                    "BackoffRate": 1.5,
                    "MaxAttempts": 8,
                    "MaxDelaySeconds": 600,
                    "JitterStrategy": "FULL",
                },
                {
                    "ErrorEquals": ["Glue.ThrottlingException"],
                    "IntervalSeconds": 5,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 5,
                    "JitterStrategy": "FULL",
                },
            ],
            "Catch": _catch(on_error),
            "Next": wait,
        },
        wait: {"Type": "Wait", "Seconds": r.CRAWLER_POLL_SECONDS, "Next": poll},
        poll: _get_crawler(name, {"State.$": "$.Crawler.State"}, is_ready, on_error),
        is_ready: {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.crawl.Crawler.State", "StringEquals": "READY", "Next": result},
                {
                    "Variable": "$.crawl.Polls",
                    "NumericGreaterThanEquals": r.CRAWLER_MAX_POLLS,
                    "Next": stuck,
                },
            ],
            "Default": count,
        },
        count: {
            "Type": "Pass",
            "Parameters": {"Polls.$": "States.MathAdd($.crawl.Polls, 1)"},
            "ResultPath": "$.crawl",
            "Next": wait,
        },
        stuck: {
            "Type": "Pass",
            "Parameters": {
                "Error": "CrawlerTimeout",
                "Cause": f"crawler {name} was not READY after {r.CRAWLER_MAX_POLLS} polls "
                f"{r.CRAWLER_POLL_SECONDS} s apart",
            },
            "ResultPath": "$.error",
            "Next": failed,
        },
        # LastCrawl exists only once a crawl has ended: it is read after READY, not while polling.
        result: _get_crawler(name, {"LastCrawl.$": "$.Crawler.LastCrawl"}, succeeded, on_error),
        succeeded: {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.crawl.Crawler.LastCrawl.Status",
                    "StringEquals": "SUCCEEDED",
                    "Next": next_state,
                }
            ],
            "Default": explain,
        },
        explain: {
            "Type": "Pass",
            "Parameters": {
                "Error": "CrawlerFailed",
                "Cause.$": (
                    f"States.Format('crawler {name} ended its crawl as {{}}: {{}}', "
                    "$.crawl.Crawler.LastCrawl.Status, "
                    "States.JsonToString($.crawl.Crawler.LastCrawl))"
                ),
            },
            "ResultPath": "$.error",
            "Next": failed,
        },
        on_error: _name_failure("CrawlerFailed", f"{prefix}: crawl [{name}]", failed),
    }


def crawl_entry(prefix: str, crawler: r.Crawler) -> str:
    """The first state of a crawl: the listing of the day's files."""
    return f"{prefix}: files for {crawler.name}"


def _branch_failed(prefix: str) -> tuple[str, States]:
    """Per-branch end of failure: name the step, then fail the branch with its error and cause."""
    failed = f"{prefix}: failed"
    return failed, {
        failed: {
            "Type": "Fail",
            "Comment": "Fails the branch, and so the Parallel, with the step's error and cause",
            "ErrorPath": "$.error.Error",
            "CausePath": "$.error.Cause",
        }
    }


def _done(prefix: str) -> tuple[str, States]:
    done = f"{prefix}: done"
    return done, {done: {"Type": "Succeed"}}


def _job_arguments(crawlers: bool, **fixed: str) -> dict[str, str]:
    arguments = {**fixed, "--EXTRACT_DATE.$": "$.EXTRACT_DATE"}
    if crawlers:
        arguments["--CATALOG"] = "crawlers"  # write in place; the crawlers catalogue it
    return arguments


def balju_branch(crawlers: bool = False) -> dict[str, Any]:
    p = "balju"
    failed, fail_states = _branch_failed(p)
    done, done_states = _done(p)
    raw, silver = r.CRAWLERS["factdata_balju"], r.CRAWLERS["silver_dailybalju"]
    d2s, s2s = f"{p}: extract (d2s)", f"{p}: build silver (s2s)"
    states: States = {
        **glue_job_states(
            p,
            "extract (d2s)",
            r.D2S_JOB,
            _job_arguments(crawlers, **{"--TARGET_DATA": "balju"}),
            crawl_entry(p, raw) if crawlers else s2s,
            failed,
        ),
        **(crawl_states(p, raw, s2s, failed) if crawlers else {}),
        **glue_job_states(
            p,
            "build silver (s2s)",
            r.BALJU_S2S_JOB,
            _job_arguments(crawlers),
            crawl_entry(p, silver) if crawlers else done,
            failed,
        ),
        **(crawl_states(p, silver, done, failed) if crawlers else {}),
        **done_states,
        **fail_states,
    }
    return {"StartAt": d2s, "States": states}


def sales_branch(crawlers: bool = False) -> dict[str, Any]:
    p = "sales"
    failed, fail_states = _branch_failed(p)
    done, done_states = _done(p)
    raw = r.CRAWLERS["factdata_sales"]
    d2s, s2s, silver = (
        f"{p}: extract (d2s)",
        f"{p}: build silver (s2s)",
        f"{p}: crawl silver tables",
    )
    states: States = {
        **glue_job_states(
            p,
            "extract (d2s)",
            r.D2S_JOB,
            _job_arguments(crawlers, **{"--TARGET_DATA": "sales"}),
            crawl_entry(p, raw) if crawlers else s2s,
            failed,
        ),
        **(crawl_states(p, raw, s2s, failed) if crawlers else {}),
        **glue_job_states(
            p,
            "build silver (s2s)",
            r.SALES_S2S_JOB,
            _job_arguments(crawlers),
            silver if crawlers else done,
            failed,
        ),
        **done_states,
        **fail_states,
    }
    if crawlers:
        states[silver] = _crawl_silver_sales(p, failed, done)
    return {"StartAt": d2s, "States": states}


def _crawl_silver_sales(p: str, failed: str, done: str) -> State:
    branches = []
    for table in ("silver_dailysales_item", "silver_dailysales_store", "silver_dailysales_hourly"):
        crawler = r.CRAWLERS[table]
        sub = f"{p}/{table.removeprefix('silver_dailysales_')}"
        sub_failed, sub_fail_states = _branch_failed(sub)
        sub_done, sub_done_states = _done(sub)
        branches.append(
            {
                "StartAt": crawl_entry(sub, crawler),
                "States": {
                    **crawl_states(sub, crawler, sub_done, sub_failed),
                    **sub_done_states,
                    **sub_fail_states,
                },
            }
        )
    return {
        "Type": "Parallel",
        "Comment": "The three silver sales tables are crawled at the same time",
        "Branches": branches,
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed}],
        "Next": done,
    }


def definition(crawlers: bool = False) -> dict[str, Any]:
    """The whole state machine, input `{"EXTRACT_DATE": "YYYY-MM-DD"}`.

    By default each job publishes its own days through the catalog after its gates pass, so a
    branch is d2s -> s2s with no crawl on the critical path. With `crawlers`, the seed's flow:
    the jobs write in place and each table is crawled after its job.
    """
    flow = "d2s job -> crawl -> s2s job -> crawl(s)" if crawlers else "d2s job -> s2s job"
    return {
        "Comment": (
            "hist-retail daily batch for one EXTRACT_DATE: the balju and the sales branch in "
            f"parallel, each {flow}. Generated by orchestration/statemachine.py; do not edit "
            "by hand."
        ),
        "StartAt": "Daily batch",
        "States": {
            "Daily batch": {
                "Type": "Parallel",
                "Branches": [balju_branch(crawlers), sales_branch(crawlers)],
                "ResultPath": None,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED}],
                "Next": "Daily batch succeeded",
            },
            "Daily batch succeeded": {"Type": "Succeed"},
            FAILED: {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }


def render_asl(crawlers: bool = False) -> str:
    return json.dumps(definition(crawlers), indent=2, ensure_ascii=False) + "\n"


def render_mermaid() -> str:
    """A flowchart of the default flow, and of the crawler option's crawls (dotted)."""
    crawl = {table: f"crawl {c.name}" for table, c in r.CRAWLERS.items()}
    lines = [
        "flowchart LR",
        '  start(["{EXTRACT_DATE}"]) --> b_d2s & s_d2s',
        f'  b_d2s["{r.D2S_JOB}<br/>TARGET_DATA=balju<br/>write, gates, publish"] --> b_s2s',
        f'  b_s2s["{r.BALJU_S2S_JOB}<br/>write, gates, publish"] --> ok([succeeded])',
        f'  s_d2s["{r.D2S_JOB}<br/>TARGET_DATA=sales<br/>write, gates, publish"] --> s_s2s',
        f'  s_s2s["{r.SALES_S2S_JOB}<br/>write 3, gates, publish 3"] --> ok',
        "  b_d2s & b_s2s & s_d2s & s_s2s -. error .-> failed([failed: step, error, cause])",
        '  subgraph option["CATALOG=crawlers: a crawl after each job"]',
        f'    c_raw["{crawl["factdata_balju"]}<br/>{crawl["factdata_sales"]}"]',
        '    c_silver["' + "<br/>".join(crawl[t] for t in list(crawl)[2:]) + '"]',
        "  end",
        "  b_d2s & s_d2s -.-> c_raw",
        "  b_s2s & s_s2s -.-> c_silver",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ASL_PATH.parent.mkdir(parents=True, exist_ok=True)
    ASL_PATH.write_text(render_asl(), encoding="utf-8")
    CRAWLERS_ASL_PATH.write_text(render_asl(crawlers=True), encoding="utf-8")
    MERMAID_PATH.write_text(render_mermaid(), encoding="utf-8")
    for path in (ASL_PATH, CRAWLERS_ASL_PATH, MERMAID_PATH):
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
