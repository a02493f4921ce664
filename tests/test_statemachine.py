"""The checked-in state machine, linted and executed in moto's Step Functions interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import moto_shims
import pytest
from moto import mock_aws

from orchestration import resources as r
from orchestration import statemachine, trigger
from retail_etl.params import DayRange

ACCOUNT_ROLE = "arn:aws:iam::123456789012:role/test"
DAY = "2015-01-05"

# Every integration the definition may use. There is no `glue:startCrawler.sync`: crawls are
# polled with getCrawler instead.
ALLOWED_RESOURCES = {
    "arn:aws:states:::glue:startJobRun.sync",
    "arn:aws:states:::aws-sdk:glue:startCrawler",
    "arn:aws:states:::aws-sdk:glue:getCrawler",
    "arn:aws:states:::aws-sdk:s3:listObjectsV2",
}
LAKE = "lake-bucket"


def deployed_definition(crawlers: bool) -> str:
    """A checked-in ASL with its placeholders filled in, as CloudFormation's
    DefinitionSubstitutions does."""
    path = statemachine.CRAWLERS_ASL_PATH if crawlers else statemachine.ASL_PATH
    text = path.read_text()
    for name in statemachine.SUBSTITUTIONS:
        text = text.replace("${" + name + "}", {"LakeBucket": LAKE}[name])
    return text


def span(first: str, last: str | None = None, lookback: str = "0") -> dict[str, str]:
    """The job arguments of a chunk: its first and last day, and the look-back (none unless the
    input gives one)."""
    return {
        "--EXTRACT_DATE_FROM": first,
        "--EXTRACT_DATE_TO": last or first,
        "--LOOKBACK_DAYS": lookback,
    }


def all_states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in machine["States"].items():
        found[name] = state
        for branch in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
            found.update(all_states(branch))
    return found


def test_checked_in_definition_and_diagram_are_current() -> None:
    assert statemachine.ASL_PATH.read_text() == statemachine.render_asl(), "run `make statemachine`"
    assert statemachine.CRAWLERS_ASL_PATH.read_text() == statemachine.render_asl(crawlers=True)
    assert statemachine.MERMAID_PATH.read_text() == statemachine.render_mermaid()
    readme = (statemachine.HERE.parent / "README.md").read_text()
    assert f"```mermaid\n{statemachine.render_mermaid()}```" in readme, "README's diagram"


@pytest.mark.parametrize("path", [statemachine.ASL_PATH, statemachine.CRAWLERS_ASL_PATH])
def test_definition_passes_statelint(path: Path) -> None:
    statelint = Path(sys.executable).with_name("statelint")
    done = subprocess.run([str(statelint), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_statelint_catches_a_broken_definition(tmp_path: Path) -> None:
    broken = statemachine.definition()
    broken["States"][statemachine.CHUNKS]["Next"] = "nowhere"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    statelint = Path(sys.executable).with_name("statelint")
    assert subprocess.run([str(statelint), str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("crawlers", [False, True], ids=["default", "crawlers"])
def test_resources_timeouts_and_names(crawlers: bool) -> None:
    states = all_states(statemachine.definition(crawlers))
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task"}
    assert {s["Resource"] for s in tasks.values()} <= ALLOWED_RESOURCES
    assert all("TimeoutSeconds" in s for s in tasks.values())
    # names are unique across the whole machine (a dict would hide a duplicate: count them)
    text = statemachine.render_asl(crawlers)
    for name in states:
        assert text.count(json.dumps(name) + ": {") == 1, name
    glue_jobs = [s for s in tasks.values() if s["Resource"].endswith("startJobRun.sync")]
    assert len(glue_jobs) == 4
    for job in glue_jobs:
        assert "Glue.ConcurrentRunsExceededException" in job["Retry"][0]["ErrorEquals"]
        # what `.sync` raises when Glue throttles StartJobRun ("Rate exceeded")
        assert "Glue.AWSGlueException" in job["Retry"][0]["ErrorEquals"]
        assert job["Retry"][0]["JitterStrategy"] == "FULL"
    # no key starting with "--" is ever read back through a path
    assert "$.--" not in text and "$.Arguments" not in text


@dataclass
class Flow:
    glue: Any
    sfn: Any
    s3: Any
    arn: str
    script: moto_shims.CrawlScript
    clock: moto_shims.Clock

    def run(
        self, day: str = DAY, timeout: float = 120, given: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        execution = self.sfn.start_execution(
            stateMachineArn=self.arn,
            name=f"run-{uuid.uuid4().hex[:8]}",  # moto names every unnamed execution "None"
            input=json.dumps(given or {"EXTRACT_DATE": day}),
        )["executionArn"]
        deadline = time.monotonic() + timeout
        while True:
            described = self.sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            assert time.monotonic() < deadline, "execution did not end"
            time.sleep(0.05)
        events = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        described["entered"] = [
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        ]
        described["scheduled"] = [
            json.loads(e["taskScheduledEventDetails"]["parameters"])
            for e in events
            if "taskScheduledEventDetails" in e
        ]
        return described

    def job_runs(self, job: str) -> list[dict[str, str]]:
        runs = self.glue.get_job_runs(JobName=job)["JobRuns"]
        return [{k: v for k, v in run["Arguments"].items() if k.startswith("--")} for run in runs]

    def crawls(self, crawler: str) -> int:
        return len(self.glue.list_crawls(CrawlerName=crawler)["Crawls"])

    def write_day(self, crawler: r.Crawler, day: str = DAY) -> None:
        """Leave a file in the day's folder of the crawler's table, as its job would."""
        key = f"{crawler.table.path}/extract_date={day}/part-00000.snappy.parquet"
        self.s3.put_object(Bucket=LAKE, Key=key, Body=b"PAR1")


def test_the_default_flow_has_no_crawl() -> None:
    states = all_states(statemachine.definition())
    assert not [n for n, s in states.items() if "crawl" in n.lower() or s["Type"] == "Wait"]
    assert "Crawler" not in statemachine.render_asl()
    assert "${LakeBucket}" not in statemachine.render_asl()  # nothing to list either


@pytest.fixture(params=[True], ids=["crawlers"])
def flow(request, aws_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The state machine in moto with the crawler option (`default_flow`: without)."""
    yield from _flow(request.param, monkeypatch)


@pytest.fixture
def default_flow(aws_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    yield from _flow(False, monkeypatch)


def _flow(crawlers: bool, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    script, clock = moto_shims.CrawlScript(), moto_shims.Clock()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        moto_shims.install(monkeypatch, script, clock)
        glue = boto3.client("glue")
        sfn = boto3.client("stepfunctions")
        glue.create_database(DatabaseInput={"Name": r.GLUE_DATABASE})
        for job in r.JOBS:
            glue.create_job(
                Name=job.name,
                Role=ACCOUNT_ROLE,
                Command={"Name": "glueetl", "ScriptLocation": f"s3://artifacts/{job.script}"},
                ExecutionProperty={"MaxConcurrentRuns": job.max_concurrent_runs},
                GlueVersion=r.GLUE_VERSION,
            )
        for crawler in r.CRAWLERS.values():
            glue.create_crawler(
                Name=crawler.name,
                Role=ACCOUNT_ROLE,
                DatabaseName=r.GLUE_DATABASE,
                Targets={"S3Targets": [{"Path": crawler.s3_path(LAKE)}]},
            )
        arn = sfn.create_state_machine(
            name=r.state_machine_name("test"),
            definition=deployed_definition(crawlers),
            roleArn=ACCOUNT_ROLE,
        )["stateMachineArn"]
        s3 = boto3.client("s3")
        s3.create_bucket(
            Bucket=LAKE, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"}
        )
        flow = Flow(glue, sfn, s3, arn, script, clock)
        for crawler in r.CRAWLERS.values():
            flow.write_day(crawler)
        yield flow


def test_happy_path_runs_every_job_with_its_arguments_and_every_crawl(flow: Flow) -> None:
    result = flow.run()

    assert result["status"] == "SUCCEEDED", result
    crawlers = {"--CATALOG": "crawlers"}  # the jobs write in place for the crawlers
    assert sorted(flow.job_runs(r.D2S_JOB), key=str) == [
        {**span(DAY), "--TARGET_DATA": "balju", **crawlers},
        {**span(DAY), "--TARGET_DATA": "sales", **crawlers},
    ]
    assert flow.job_runs(r.BALJU_S2S_JOB) == [{**span(DAY), **crawlers}]
    assert flow.job_runs(r.SALES_S2S_JOB) == [{**span(DAY), **crawlers}]
    for crawler in r.CRAWLERS.values():
        assert flow.crawls(crawler.name) == 1, crawler.name
    for silver in ("item", "store", "hourly"):
        name = r.CRAWLERS[f"silver_dailysales_{silver}"].name
        assert f"sales/{silver}: {name} succeeded?" in result["entered"]
    assert set(flow.clock.waits) == {r.CRAWLER_POLL_SECONDS}


def test_a_crawl_that_fails_fails_the_run_with_the_crawlers_message(flow: Flow) -> None:
    crawler = r.CRAWLERS["factdata_sales"].name
    flow.script.steps[crawler] = [
        ("RUNNING", None),
        ("READY", {"Status": "FAILED", "ErrorMessage": "Service is unable to assume role"}),
    ]

    result = flow.run()

    assert result["status"] == "FAILED"
    assert result["error"] == "CrawlerFailed"
    assert f"crawler {crawler} ended its crawl as FAILED" in result["cause"]
    assert "Service is unable to assume role" in result["cause"]
    assert flow.job_runs(r.SALES_S2S_JOB) == []  # nothing ran on top of a failed crawl
    assert "Daily batch failed" in result["entered"]


def test_a_crawler_in_stopping_is_waited_for_until_ready(flow: Flow) -> None:
    crawler = r.CRAWLERS["factdata_balju"].name
    previous = {"Status": "FAILED", "ErrorMessage": "the crawl before this one"}
    flow.script.steps[crawler] = [
        ("RUNNING", None),
        # STOPPING: this crawl is done but the catalog is not updated yet; LastCrawl still
        # describes the crawl before. The original flow went on here.
        ("STOPPING", previous),
        ("STOPPING", previous),
        ("READY", {"Status": "SUCCEEDED"}),
    ]

    result = flow.run()

    assert result["status"] == "SUCCEEDED", result
    assert flow.script.polls[crawler] == 5  # four polls until READY, then the LastCrawl read
    assert flow.job_runs(r.BALJU_S2S_JOB) == [{**span(DAY), "--CATALOG": "crawlers"}]


def test_a_failed_job_run_fails_the_run_with_its_error(flow: Flow, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    moto_shims.fail_job_runs(monkeypatch, r.BALJU_S2S_JOB, "ZeroDivisionError: division by zero")

    result = flow.run()

    assert result["status"] == "FAILED"
    assert result["error"] == "GlueJobFailed", result.get("cause")
    step = f"[balju branch failed] balju: build silver (s2s) [{r.BALJU_S2S_JOB}] for {DAY}..{DAY}: "
    assert result["cause"].startswith(step)
    caught = json.loads(result["cause"].removeprefix(step).strip())
    assert caught["Error"] == "States.TaskFailed"
    assert "division by zero" in caught["Cause"]
    assert flow.crawls(r.CRAWLERS["silver_dailybalju"].name) == 0


def test_a_busy_crawler_is_retried_with_backoff(flow: Flow) -> None:
    crawler = r.CRAWLERS["silver_dailysales_store"].name
    flow.script.busy_starts[crawler] = 2

    result = flow.run()

    assert result["status"] == "SUCCEEDED", result
    assert flow.crawls(crawler) == 1
    assert len(flow.clock.retry_sleeps) == 2
    assert all(0 <= s <= 600 for s in flow.clock.retry_sleeps)


def test_a_crawler_that_never_gets_ready_fails_the_run(flow: Flow) -> None:
    crawler = r.CRAWLERS["silver_dailybalju"].name
    flow.script.steps[crawler] = [("RUNNING", None)]

    result = flow.run()

    assert result["status"] == "FAILED"
    assert result["error"] == "CrawlerTimeout"
    assert crawler in result["cause"]
    assert flow.script.polls[crawler] == r.CRAWLER_MAX_POLLS + 1


def test_a_table_whose_day_has_no_files_is_not_crawled(flow: Flow) -> None:
    # d2s found no balju rows for the day: neither balju table has files for it
    other_day = "2015-01-06"
    for crawler in r.CRAWLERS.values():
        if not crawler.name.endswith("balju"):
            flow.write_day(crawler, other_day)

    result = flow.run(other_day)

    assert result["status"] == "SUCCEEDED", result
    assert flow.crawls(r.CRAWLERS["factdata_balju"].name) == 0
    assert flow.crawls(r.CRAWLERS["silver_dailybalju"].name) == 0
    assert flow.crawls(r.CRAWLERS["factdata_sales"].name) == 1
    assert flow.job_runs(r.BALJU_S2S_JOB) == [{**span(other_day), "--CATALOG": "crawlers"}]


def test_a_throttled_job_start_is_retried(flow: Flow, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    moto_shims.throttle_job_starts(monkeypatch, r.SALES_S2S_JOB, times=2)

    result = flow.run()

    assert result["status"] == "SUCCEEDED", result
    assert flow.job_runs(r.SALES_S2S_JOB) == [{**span(DAY), "--CATALOG": "crawlers"}]
    assert len(flow.clock.retry_sleeps) == 2


@pytest.mark.parametrize(
    "error",
    [
        {"Error": "States.Timeout"},  # an error may come without a Cause
        {"Error": "States.TaskFailed", "Cause": "the job's own words"},
    ],
)
def test_a_named_failure_keeps_the_step_and_error_with_or_without_a_cause(  # type: ignore[no-untyped-def]
    aws_env, error: dict[str, str]
) -> None:
    step = "balju: extract (d2s) [jb_retail_factdata_d2s]"
    definition = {
        "StartAt": "name it",
        "States": {
            "name it": statemachine._name_failure("GlueJobFailed", step, "fail"),
            "fail": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="naming", definition=json.dumps(definition), roleArn=ACCOUNT_ROLE
        )["stateMachineArn"]
        execution = sfn.start_execution(
            stateMachineArn=arn,
            input=json.dumps({"error": error, "first": DAY, "last": "2015-01-31"}),
        )
        deadline = time.monotonic() + 30
        while (described := sfn.describe_execution(executionArn=execution["executionArn"]))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)

    assert (described["status"], described["error"]) == ("FAILED", "GlueJobFailed")
    said = f"{step} for {DAY}..2015-01-31: "
    assert described["cause"].startswith(said)
    assert json.loads(described["cause"].removeprefix(said)) == error


def test_the_default_flow_runs_each_branchs_jobs_in_order_and_no_crawl(default_flow: Flow) -> None:
    result = default_flow.run()

    assert result["status"] == "SUCCEEDED", result
    assert sorted(default_flow.job_runs(r.D2S_JOB), key=str) == [
        {**span(DAY), "--TARGET_DATA": "balju"},
        {**span(DAY), "--TARGET_DATA": "sales"},
    ]
    assert default_flow.job_runs(r.BALJU_S2S_JOB) == [{**span(DAY)}]
    assert default_flow.job_runs(r.SALES_S2S_JOB) == [{**span(DAY)}]
    for crawler in r.CRAWLERS.values():
        assert default_flow.crawls(crawler.name) == 0
    entered = result["entered"]
    assert entered.index("balju: extract (d2s)") < entered.index("balju: build silver (s2s)")
    assert default_flow.clock.waits == []  # no poll loop


def test_a_failed_gate_fails_the_default_flow_with_the_jobs_line(  # type: ignore[no-untyped-def]
    default_flow: Flow, monkeypatch
) -> None:
    line = (
        "jb_retail_factdata_d2s: error: gate failed: factdata_sales 2015-01-05: RowCountMatch "
        "rows: expected 802, found 801"
    )
    moto_shims.fail_job_runs(monkeypatch, r.D2S_JOB, line)

    result = default_flow.run()

    assert (result["status"], result["error"]) == ("FAILED", "GlueJobFailed")
    assert "RowCountMatch rows: expected 802, found 801" in result["cause"]
    assert default_flow.job_runs(r.SALES_S2S_JOB) == []


def fail_runs_with(monkeypatch, job_name: str, target: str | None, message: str) -> None:  # type: ignore[no-untyped-def]
    """Runs of `job_name` (of one TARGET_DATA only, when given) end FAILED with `message`."""
    from moto.glue import models as glue_models

    original = glue_models.FakeJob.start_job_run

    def start_job_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        run_id = original(self, *args, **kwargs)
        run = self.job_runs[-1]
        if self.name == job_name and (
            target is None or run.arguments.get("--TARGET_DATA") == target
        ):
            run._transitions = [("STARTING", "RUNNING"), ("RUNNING", "FAILED")]
            as_dict = run.as_dict
            run.as_dict = lambda: {**as_dict(), "ErrorMessage": message}
        return run_id

    monkeypatch.setattr(glue_models.FakeJob, "start_job_run", start_job_run)


def test_a_failed_branch_lets_the_other_finish_and_the_execution_names_it(  # type: ignore[no-untyped-def]
    default_flow: Flow, monkeypatch
) -> None:
    line = (
        "jb_retail_factdata_d2s: error: gate failed: factdata_balju 2015-01-05: RowCountMatch "
        "rows: expected 400, found 399"
    )
    fail_runs_with(monkeypatch, r.D2S_JOB, "balju", line)

    result = default_flow.run()

    assert (result["status"], result["error"]) == ("FAILED", "GlueJobFailed")
    assert result["cause"].startswith("[balju branch failed] balju: extract (d2s)")
    assert "expected 400, found 399" in result["cause"]
    assert "sales branch failed" not in result["cause"]
    # the sales branch ran to its end: its silver job ran, and succeeded
    (sales_s2s,) = default_flow.glue.get_job_runs(JobName=r.SALES_S2S_JOB)["JobRuns"]
    assert sales_s2s["JobRunState"] == "SUCCEEDED"
    assert default_flow.job_runs(r.BALJU_S2S_JOB) == []
    assert "sales: done" in result["entered"]


def test_both_branches_failing_are_both_named(default_flow: Flow, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fail_runs_with(monkeypatch, r.D2S_JOB, None, "source unavailable")

    result = default_flow.run()

    assert (result["status"], result["error"]) == ("FAILED", "GlueJobFailed")
    assert result["cause"].startswith("[balju branch failed] balju: extract (d2s)")
    assert "[sales branch failed] sales: extract (d2s)" in result["cause"]


def test_a_range_runs_as_one_chunk_with_the_range_passed_to_both_jobs(default_flow: Flow) -> None:
    result = default_flow.run(
        given={"EXTRACT_DATE_FROM": "2015-01-01", "EXTRACT_DATE_TO": "2015-01-31"}
    )

    assert result["status"] == "SUCCEEDED", result
    month = span("2015-01-01", "2015-01-31")
    assert sorted(default_flow.job_runs(r.D2S_JOB), key=str) == [
        {**month, "--TARGET_DATA": "balju"},
        {**month, "--TARGET_DATA": "sales"},
    ]
    assert default_flow.job_runs(r.BALJU_S2S_JOB) == [month]
    assert default_flow.job_runs(r.SALES_S2S_JOB) == [month]


def test_chunks_run_one_after_another(default_flow: Flow) -> None:
    given = trigger.execution_input(DayRange(date(2015, 1, 30), date(2015, 3, 2)))

    result = default_flow.run(given=given)

    assert result["status"] == "SUCCEEDED", result
    started = [
        (p["JobName"], p["Arguments"]["--EXTRACT_DATE_FROM"], p["Arguments"]["--EXTRACT_DATE_TO"])
        for p in result["scheduled"]
    ]
    assert len(started) == 3 * 4  # three chunks of four job runs
    firsts = [first for _, first, _ in started]
    assert firsts == sorted(firsts)  # every run of a chunk before any of the next
    chunks = [
        ("2015-01-30", "2015-01-31"),
        ("2015-02-01", "2015-02-28"),
        ("2015-03-01", "2015-03-02"),
    ]
    for first, last in chunks:  # each chunk ran every job once
        assert sorted(job for job, *days in started if days == [first, last]) == sorted(
            [r.D2S_JOB, r.D2S_JOB, r.BALJU_S2S_JOB, r.SALES_S2S_JOB]
        )


@pytest.mark.parametrize(
    "given",
    [{}, {"EXTRACT_DATE_FROM": "2015-01-01"}, {"date": "2015-01-05"}],
    ids=["empty", "no-end", "other-name"],
)
def test_input_without_days_fails_naming_the_forms_and_runs_nothing(  # type: ignore[no-untyped-def]
    default_flow: Flow, given
) -> None:
    result = default_flow.run(given=given or {"nothing": True})

    assert (result["status"], result["error"]) == ("FAILED", "InvalidInput")
    assert result["cause"].startswith('expected {"EXTRACT_DATE": "YYYY-MM-DD"}')
    assert default_flow.job_runs(r.D2S_JOB) == []


def peak_runs(states: dict[str, Any]) -> dict[str, float]:
    """The most runs of each Glue job and crawler that one execution of `states` can have at
    once: a state's runs follow each other; a Parallel's branches add up; a Map multiplies by
    its MaxConcurrency (0: no limit)."""
    peak: dict[str, float] = {}

    def at_most(found: dict[str, float]) -> None:
        for name, n in found.items():
            peak[name] = max(peak.get(name, 0), n)

    for state in states.values():
        if state["Type"] == "Task" and state["Resource"] in (
            statemachine.GLUE_START_JOB_RUN_SYNC, statemachine.GLUE_START_CRAWLER,
        ):  # fmt: skip
            parameters = state["Parameters"]
            at_most({parameters.get("JobName") or parameters["Name"]: 1})
        elif state["Type"] == "Parallel":
            summed: dict[str, float] = {}
            for branch in state["Branches"]:
                for name, n in peak_runs(branch["States"]).items():
                    summed[name] = summed.get(name, 0) + n
            at_most(summed)
        elif state["Type"] == "Map":
            times = state.get("MaxConcurrency", 0) or float("inf")
            inner = peak_runs(state["ItemProcessor"]["States"])
            at_most({name: n * times for name, n in inner.items()})
    return peak


@pytest.mark.parametrize("crawlers", [False, True], ids=["tables", "crawlers"])
def test_a_366_day_backfill_never_contends_with_itself(aws_env, crawlers: bool) -> None:  # type: ignore[no-untyped-def]
    # Through the Lambda, a leap year is one execution (test_trigger: one start, named after
    # the range, refused a second time) of twelve chunks. Within it, by the definition itself:
    class Recorder:
        class exceptions:
            class ExecutionDoesNotExist(Exception):
                pass

            ExecutionAlreadyExists = ExecutionDoesNotExist

        def __init__(self) -> None:
            self.started: list[dict[str, Any]] = []

        def describe_execution(self, executionArn: str) -> dict[str, str]:
            raise self.exceptions.ExecutionDoesNotExist(executionArn)

        def start_execution(self, **kwargs: str) -> dict[str, str]:
            self.started.append(kwargs)
            return {"executionArn": kwargs["name"]}

    client = Recorder()
    trigger.start_execution(
        client, "arn:aws:states:r:1:stateMachine:m", DayRange(date(2016, 1, 1), date(2016, 12, 31)),
        rerun=False,
    )  # fmt: skip
    (started,) = client.started
    assert len(json.loads(started["input"])["chunks"]) == 12

    machine = statemachine.definition(crawlers)
    (chunks,) = [s for s in machine["States"].values() if s["Type"] == "Map"]
    assert chunks["MaxConcurrency"] == 1
    peak = peak_runs(machine["States"])
    allowed = {job.name: job.max_concurrent_runs for job in r.JOBS}
    for job, runs in allowed.items():
        assert peak[job] <= runs, job
    assert peak[r.D2S_JOB] == 2  # the two branches' extractions, one chunk at a time
    for crawler in r.CRAWLERS.values():
        assert peak.get(crawler.name, 0) == (1 if crawlers else 0), crawler.name


def test_the_cost_model_counts_the_states_an_execution_enters(default_flow: Flow) -> None:
    from orchestration import costs

    given = trigger.execution_input(DayRange(date(2015, 1, 30), date(2015, 3, 2)))
    for started_with, chunks in (({"EXTRACT_DATE": DAY}, 1), (given, 3)):
        result = default_flow.run(given=started_with)
        assert result["status"] == "SUCCEEDED", result
        definition = statemachine.definition()
        assert costs.transitions(definition, started_with, chunks) == len(result["entered"])


def test_the_flows_jobs_are_the_stacks_jobs() -> None:
    from retail_etl import flow

    # The ASL takes its job names from the flow, the template from resources: they must agree.
    assert sorted(flow.JOBS) == sorted(job.name for job in r.JOBS)


@pytest.mark.parametrize("given", ["3", 3])
def test_the_look_back_reaches_every_job_as_text(default_flow: Flow, given: object) -> None:
    """The schedule's nights carry the look-back (the trigger gives it as text; a number
    typed into the console is formatted); every job of the night gets it."""
    result = default_flow.run(given={"EXTRACT_DATE": DAY, "LOOKBACK_DAYS": given})

    assert result["status"] == "SUCCEEDED", result
    night = span(DAY, lookback="3")
    assert sorted(default_flow.job_runs(r.D2S_JOB), key=str) == [
        {**night, "--TARGET_DATA": "balju"},
        {**night, "--TARGET_DATA": "sales"},
    ]
    assert default_flow.job_runs(r.BALJU_S2S_JOB) == [night]
    assert default_flow.job_runs(r.SALES_S2S_JOB) == [night]


def test_a_backfill_passes_its_look_back_to_every_chunk(default_flow: Flow) -> None:
    given = trigger.execution_input(DayRange(date(2015, 1, 30), date(2015, 2, 2)), lookback=2)
    result = default_flow.run(given=given)

    assert result["status"] == "SUCCEEDED", result
    assert sorted(
        (p["Arguments"]["--EXTRACT_DATE_FROM"], p["Arguments"]["--LOOKBACK_DAYS"])
        for p in result["scheduled"]
        if p["JobName"] == r.D2S_JOB
    ) == [("2015-01-30", "2"), ("2015-01-30", "2"), ("2015-02-01", "2"), ("2015-02-01", "2")]
