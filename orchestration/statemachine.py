"""The Step Functions definition of the daily batch, built from `resources`, and its diagram.

`python -m orchestration.statemachine` (`make statemachine`) writes the checked-in ASL (two: the
default and the crawler option) and the Mermaid diagram the README shows; a test fails when one
is stale.

The input (one day, or a range, possibly split into chunks by the trigger) becomes a list of
chunks that a Map runs one after another; each chunk runs the branches of `retail_etl.flow.FLOW`
(the local runner's too) in parallel. Shape, per branch: d2s job (.sync) -> s2s job (.sync);
each job writes, checks its gates and publishes its days through the catalog itself. The crawler
option (`CATALOG=crawlers`) is the seed's flow: d2s -> crawl raw -> s2s -> crawl silver (the
three sales crawls in a nested Parallel). A chunk's state carries only its first and last day
and the small parts of each task result that later states read. A failed step ends its own
branch only: the other branch's jobs run on and publish; after the Parallel the chunk fails,
and the execution with it, with the first failed branch's error and a cause that names every
branch that failed, its step, its chunk and its error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestration import resources as r
from retail_etl import flow, lake

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
            "Cause.$": (
                f"States.Format('{step} for {{}}..{{}}: {{}}', $.first, $.last, "
                "States.JsonToString($.error))"
            ),
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

    A table without files for the chunk's first day or any later day is not crawled: there is
    nothing new to add (the job removed the partitions of days it left empty), and a crawler
    whose first crawl finds nothing never creates its table with CRAWL_NEW_FOLDERS_ONLY. So a
    table's first crawl always has data. STOPPING is not finished: the catalog is updated only
    once the crawler is READY again.
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
            "Comment": (
                f"Are there files under {crawler.table.path}/ for the chunk's first day or later?"
            ),
            "Resource": S3_LIST_OBJECTS,
            "Parameters": {
                "Bucket": "${LakeBucket}",
                "Prefix": f"{crawler.table.path}/{lake.PARTITION_COLUMN}=",
                # keys sort by day: the first day's files and every later day's come after this
                "StartAfter.$": (
                    f"States.Format('{crawler.table.path}/{lake.PARTITION_COLUMN}={{}}', $.first)"
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
    """The end of a failed crawl inside a branch's nested Parallel: it fails that Parallel,
    whose Catch ends the branch failed (`_branch_outcome`); the other branch runs on."""
    failed = f"{prefix}: failed"
    return failed, {
        failed: {
            "Type": "Fail",
            "Comment": "Fails the nested crawls, and so the branch, with the crawl's error",
            "ErrorPath": "$.error.Error",
            "CausePath": "$.error.Cause",
        }
    }


def _done(prefix: str) -> tuple[str, States]:
    done = f"{prefix}: done"
    return done, {done: {"Type": "Succeed"}}


def _branch_outcome(prefix: str) -> tuple[str, str, States]:
    """A top-level branch ends on its own, failed or not, so that a failure in one branch never
    stops the other's running job (a Fail state would fail the Parallel, which stops every
    branch). Each outcome says whether it failed and, if so, its error and a note for the
    chunk's cause; the chunk fails after the Parallel, naming every branch that failed."""
    done, failed = f"{prefix}: done", f"{prefix}: failed"
    return (
        done,
        failed,
        {
            done: {
                "Type": "Pass",
                "Parameters": {"branch": prefix, "failed": False, "Error": "", "note": ""},
                "End": True,
            },
            failed: {
                "Type": "Pass",
                "Comment": "Ends the branch with its step's error; the other branch runs on",
                "Parameters": {
                    "branch": prefix,
                    "failed": True,
                    "Error.$": "$.error.Error",
                    "note.$": f"States.Format('[{prefix} branch failed] {{}} ', $.error.Cause)",
                },
                "End": True,
            },
        },
    )


def _job_arguments(step: flow.Step, crawlers: bool) -> dict[str, str]:
    """The step's arguments as the flow defines them, the days taken from the chunk."""
    days = {
        f"{flow.FROM}.$": "$.first",
        f"{flow.TO}.$": "$.last",
        f"{flow.LOOKBACK}.$": "$.lookback",
    }
    return step.arguments(days, "crawlers" if crawlers else "tables")


def branch(b: flow.Branch, crawlers: bool = False) -> dict[str, Any]:
    """One branch of `retail_etl.flow.FLOW`: its jobs in order, each followed, with the crawler
    option, by the crawl of the tables it wrote (several at once in a nested Parallel)."""
    p = b.name
    done, failed, outcome_states = _branch_outcome(p)
    states: States = {}
    names = [f"{p}: {step.name}" for step in b.steps]
    for n, step in enumerate(b.steps):
        after = names[n + 1] if n + 1 < len(b.steps) else done
        crawls = [r.CRAWLERS[t.name] for t in step.publishes] if crawlers else []
        if len(crawls) == 1:
            first_crawl = crawl_entry(p, crawls[0])
            states.update(crawl_states(p, crawls[0], after, failed))
        elif crawls:
            first_crawl = f"{p}: crawl silver tables"
            states[first_crawl] = _crawl_in_parallel(p, crawls, failed, after)
        else:
            first_crawl = after
        states.update(
            glue_job_states(
                p, step.name, step.job.name, _job_arguments(step, crawlers), first_crawl, failed
            )
        )
    return {"StartAt": names[0], "States": {**states, **outcome_states}}


def _crawl_in_parallel(p: str, crawlers: list[r.Crawler], failed: str, done: str) -> State:
    branches = []
    for crawler in crawlers:
        sub = f"{p}/{crawler.table.name.rsplit('_', 1)[-1]}"
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
        "Comment": "The tables of one job are crawled at the same time",
        "Branches": branches,
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed}],
        "Next": done,
    }


def _chunk_states(crawlers: bool) -> States:
    """A chunk: the branches in parallel, each ending on its own; then the chunk fails if any
    branch failed, with the first failed branch's error and every failed branch's note."""
    # Each branch's outcome under its name, not its index: AWS reads `$.branches[0].failed` in a
    # Choice, but moto's interpreter finds no value there; by name both do.
    outcomes = [f"$.branches.{b.name}" for b in flow.FLOW]
    cause = (
        "States.Format('"
        + "{}" * len(outcomes)
        + "', "
        + ", ".join(f"{o}.note" for o in outcomes)
        + ")"
    )
    name_it = {
        f"{b.name} failed: fail the chunk": {
            "Type": "Pass",
            "Parameters": {"Error.$": f"{o}.Error", "Cause.$": cause},
            "ResultPath": "$.error",
            "Next": "Chunk failed",
        }
        for b, o in zip(flow.FLOW, outcomes, strict=True)
    }
    return {
        "Daily batch": {
            "Type": "Parallel",
            "Branches": [branch(b, crawlers) for b in flow.FLOW],
            "ResultSelector": {f"{b.name}.$": f"$[{i}]" for i, b in enumerate(flow.FLOW)},
            "ResultPath": "$.branches",
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Chunk failed"}
            ],
            "Next": "Did every branch succeed?",
        },
        "Did every branch succeed?": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [{"Variable": f"{o}.failed", "BooleanEquals": False} for o in outcomes],
                    "Next": "Chunk done",
                }
            ],
            "Default": "Which branch failed first?",
        },
        "Which branch failed first?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": f"{o}.failed", "BooleanEquals": True, "Next": name}
                for o, name in zip(outcomes, name_it, strict=True)
            ],
            "Default": "Chunk failed",
        },
        **name_it,
        "Chunk done": {"Type": "Succeed"},
        "Chunk failed": {
            "Type": "Fail",
            "ErrorPath": "$.error.Error",
            "CausePath": "$.error.Cause",
        },
    }


# Input forms, each made into a list of chunks ([first, last] pairs) that run one after another.
WHICH_DAYS = "Which days?"
CHUNKS = "Chunks, one after another"
LOOKBACK_GIVEN = "Look-back given?"
BAD_INPUT = "Bad input"
EXPECTED_INPUT = (
    'expected {"EXTRACT_DATE": "YYYY-MM-DD"} or {"EXTRACT_DATE_FROM": "YYYY-MM-DD", '
    '"EXTRACT_DATE_TO": "YYYY-MM-DD"} (the trigger Lambda adds "chunks" for a long range), '
    'either with "LOOKBACK_DAYS": "N" to restate the changed days of the N before'
)


def _plan(chunks: str) -> State:
    return {
        "Type": "Pass",
        "Parameters": {"chunks.$": chunks},
        "ResultPath": "$.plan",
        "Next": LOOKBACK_GIVEN,
    }


def _lookback_states() -> States:
    """The look-back every job of every chunk gets: the input's `LOOKBACK_DAYS` as text (a
    number is formatted), else 0. The jobs validate it (0 to 62), as they do the days."""
    return {
        LOOKBACK_GIVEN: {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.LOOKBACK_DAYS", "IsPresent": True, "Next": "With its look-back"}
            ],
            "Default": "Without a look-back",
        },
        "With its look-back": {
            "Type": "Pass",
            "Parameters": {"days.$": "States.Format('{}', $.LOOKBACK_DAYS)"},
            "ResultPath": "$.lookback",
            "Next": CHUNKS,
        },
        "Without a look-back": {
            "Type": "Pass",
            "Result": {"days": "0"},
            "ResultPath": "$.lookback",
            "Next": CHUNKS,
        },
    }


def definition(crawlers: bool = False) -> dict[str, Any]:
    """The whole state machine. Input: `{"EXTRACT_DATE": "D"}`, or `{"EXTRACT_DATE_FROM": "A",
    "EXTRACT_DATE_TO": "B"}` (one chunk), optionally with `"chunks": [["A", "A2"], ...]` (the
    trigger Lambda splits a range into calendar months); either with `"LOOKBACK_DAYS": "N"`,
    which every job gets as `--LOOKBACK_DAYS` (default 0).

    The chunks run one after another (a Map with MaxConcurrency 1), so a backfill never runs two
    of its own job runs or crawls of the same job or crawler at once; each chunk runs both
    branches of `retail_etl.flow.FLOW` in parallel with `--EXTRACT_DATE_FROM/TO` set to the
    chunk. By default each job publishes its own days through the catalog after its gates pass,
    so a branch is d2s -> s2s with no crawl on the critical path. With `crawlers`, the seed's
    flow: the jobs write in place and each table is crawled after its job.
    """
    shape = "d2s job -> crawl -> s2s job -> crawl(s)" if crawlers else "d2s job -> s2s job"
    batch = {"StartAt": "Daily batch", "States": _chunk_states(crawlers)}
    return {
        "Comment": (
            "hist-retail batch for one EXTRACT_DATE or a range of days, in chunks one after "
            f"another; each chunk runs the balju and the sales branch in parallel, each {shape}. "
            "Generated by orchestration/statemachine.py; do not edit by hand."
        ),
        "StartAt": WHICH_DAYS,
        "States": {
            WHICH_DAYS: {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.chunks", "IsPresent": True, "Next": "Chunks given"},
                    {"Variable": "$.EXTRACT_DATE", "IsPresent": True, "Next": "One day"},
                    {
                        "And": [
                            {"Variable": "$.EXTRACT_DATE_FROM", "IsPresent": True},
                            {"Variable": "$.EXTRACT_DATE_TO", "IsPresent": True},
                        ],
                        "Next": "One range",
                    },
                ],
                "Default": BAD_INPUT,
            },
            "Chunks given": _plan("$.chunks"),
            "One day": _plan("States.Array(States.Array($.EXTRACT_DATE, $.EXTRACT_DATE))"),
            "One range": _plan(
                "States.Array(States.Array($.EXTRACT_DATE_FROM, $.EXTRACT_DATE_TO))"
            ),
            **_lookback_states(),
            CHUNKS: {
                "Type": "Map",
                "Comment": "One chunk at a time: a backfill never contends with itself",
                "ItemsPath": "$.plan.chunks",
                "MaxConcurrency": 1,
                "ItemSelector": {
                    "first.$": "States.ArrayGetItem($$.Map.Item.Value, 0)",
                    "last.$": "States.ArrayGetItem($$.Map.Item.Value, 1)",
                    # a path in ItemSelector reads the Map state's input (AWS and moto alike)
                    "lookback.$": "$.lookback.days",
                },
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **batch},
                "ResultPath": None,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED}],
                "Next": "Daily batch succeeded",
            },
            "Daily batch succeeded": {"Type": "Succeed"},
            BAD_INPUT: {"Type": "Fail", "Error": "InvalidInput", "Cause": EXPECTED_INPUT},
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
        '  start(["{EXTRACT_DATE}, or a range and its chunks"]) --> chunks',
        '  chunks[["each chunk in turn<br/>(Map, MaxConcurrency 1)"]] --> b_d2s & s_d2s',
        f'  b_d2s["{r.D2S_JOB}<br/>TARGET_DATA=balju<br/>write, gates, publish"] --> b_s2s',
        f'  b_s2s["{r.BALJU_S2S_JOB}<br/>write, gates, publish"] --> ok([succeeded])',
        f'  s_d2s["{r.D2S_JOB}<br/>TARGET_DATA=sales<br/>write, gates, publish"] --> s_s2s',
        f'  s_s2s["{r.SALES_S2S_JOB}<br/>write 3, gates, publish 3"] --> ok',
        "  b_d2s & b_s2s -. error .-> b_end([balju branch ends failed])",
        "  s_d2s & s_s2s -. error .-> s_end([sales branch ends failed])",
        "  b_end & s_end -. after both branches .-> failed([failed: every failed branch named])",
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
