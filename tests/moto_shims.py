"""Test-only bridges over the places where moto's Step Functions interpreter differs from AWS.

Each shim says what AWS does. They are installed per test with pytest's monkeypatch, so
nothing here changes moto outside the tests that ask for it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError
from moto.glue import models as glue_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_glue,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

from orchestration.rehearsal import moto_bridge

# AWS reports a finished crawl in GetCrawler's LastCrawl.Status as SUCCEEDED, CANCELLED or
# FAILED; moto reports its internal crawl states instead.
AWS_LAST_CRAWL_STATUS = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED", "FAILED": "FAILED"}


@dataclass
class CrawlScript:
    """What GetCrawler answers for a crawler, one step per call; the last step repeats.

    A step is (State, LastCrawl or None). Without a script a crawler behaves as moto's state
    manager has it (a crawl finishes at once), with LastCrawl.Status in AWS's words.
    """

    steps: dict[str, list[tuple[str, dict[str, Any] | None]]] = field(default_factory=dict)
    busy_starts: dict[str, int] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_step(self, crawler: str) -> tuple[str, dict[str, Any] | None] | None:
        with self.lock:
            self.polls[crawler] += 1
            script = self.steps.get(crawler)
            if not script:
                return None
            return script.pop(0) if len(script) > 1 else script[0]


@dataclass
class Clock:
    """Waits and retry intervals the interpreter would have slept, recorded instead of slept."""

    waits: list[float] = field(default_factory=list)
    retry_sleeps: list[float] = field(default_factory=list)


def install(monkeypatch: pytest.MonkeyPatch, script: CrawlScript, clock: Clock) -> None:
    # 1. moto's `.sync` Glue integration, polled as AWS polls it (orchestration/rehearsal).
    glue_sync = moto_bridge.glue_sync(poll_seconds=0.01)
    monkeypatch.setattr(
        state_task_service_glue.StateTaskServiceGlue, "_eval_integration_pattern", glue_sync
    )

    # 2. AWS names aws-sdk Glue errors "Glue.<Code>" (Glue.CrawlerRunningException); moto knows
    #    no normalised name for glue and would say "glue.CrawlerRunningException".
    monkeypatch.setitem(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, "glue", "Glue")

    # 3. Crawls: moto advances a crawl only when something ticks its state manager (by default
    #    one tick ends it), and reports moto's own LastCrawl.Status values. AWS crawlers go
    #    RUNNING -> STOPPING -> READY on their own; here each GetCrawler is one tick of time.
    original_as_dict = glue_models.FakeCrawler.as_dict

    def crawler_as_dict(self):  # type: ignore[no-untyped-def]
        if self.crawls:
            self.crawls[-1].advance()
        data = original_as_dict(self)
        step = script.next_step(self.name)
        if step is not None:
            data["State"], last_crawl = step
            data.pop("LastCrawl", None)
            if last_crawl is not None:
                data["LastCrawl"] = {
                    "LogGroup": "/aws-glue/crawlers",
                    "LogStream": self.name,
                    **last_crawl,
                }
        elif "LastCrawl" in data:
            data["LastCrawl"]["Status"] = AWS_LAST_CRAWL_STATUS.get(
                data["LastCrawl"]["Status"], data["LastCrawl"]["Status"]
            )
        return data

    monkeypatch.setattr(glue_models.FakeCrawler, "as_dict", crawler_as_dict)

    original_start = glue_models.FakeCrawler.start_crawler

    def start_crawler(self):  # type: ignore[no-untyped-def]
        with script.lock:
            busy = script.busy_starts.get(self.name, 0)
            if busy:
                script.busy_starts[self.name] = busy - 1
        if busy:
            raise glue_models.CrawlerRunningException(
                f"Crawler with name {self.name} has already started"
            )
        original_start(self)

    monkeypatch.setattr(glue_models.FakeCrawler, "start_crawler", start_crawler)

    # 4. Time: AWS waits for real, and so does moto; the tests record the waits instead.
    def no_wait(self, env, wait_seconds):  # type: ignore[no-untyped-def]
        clock.waits.append(wait_seconds)

    monkeypatch.setattr(wait_function.WaitFunction, "_wait_interval", no_wait)

    class RecordingTime:
        @staticmethod
        def sleep(seconds: float) -> None:
            clock.retry_sleeps.append(seconds)

    monkeypatch.setattr(retrier_decl, "time", RecordingTime)


def fail_job_runs(monkeypatch: pytest.MonkeyPatch, job_name: str, message: str) -> None:
    """Every run of `job_name` ends FAILED with `message`, as a Glue job whose script raised."""
    original = glue_models.FakeJob.start_job_run

    def start_job_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        run_id = original(self, *args, **kwargs)
        if self.name == job_name:
            run = self.job_runs[-1]
            run._transitions = [("STARTING", "RUNNING"), ("RUNNING", "FAILED")]
            original_as_dict = run.as_dict
            run.as_dict = lambda: {**original_as_dict(), "ErrorMessage": message}
        return run_id

    monkeypatch.setattr(glue_models.FakeJob, "start_job_run", start_job_run)


def throttle_job_starts(monkeypatch: pytest.MonkeyPatch, job_name: str, times: int) -> None:
    """The first `times` StartJobRun calls of `job_name` are throttled. AWS's `.sync` Glue
    integration reports that as Glue.AWSGlueException ("Rate exceeded ... ThrottlingException"),
    the name raised here."""
    original = glue_models.FakeJob.start_job_run
    left = {"n": times}

    def start_job_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.name == job_name and left["n"] > 0:
            left["n"] -= 1
            raise AWSGlueException(
                "Rate exceeded (Service: AWSGlue; Status Code: 400; "
                "Error Code: ThrottlingException)"
            )
        return original(self, *args, **kwargs)

    monkeypatch.setattr(glue_models.FakeJob, "start_job_run", start_job_run)


class AWSGlueException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("AWSGlueException", message)
