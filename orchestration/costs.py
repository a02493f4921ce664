"""Cost and latency on paper: Glue job runs, crawls, billed DPU-minutes, state transitions.

`python -m orchestration.costs` prints a table (`--json`: a list of scenarios) for a nightly
run, a 31-day and a 365-day backfill, each the way backfills ran before ranges (one execution
per day, started together) and the way they run now (one execution per range, its calendar
months as chunks one after another), with the declared tables (default) and with crawlers.

Everything structural is read from the definitions themselves: the job list, workers and
concurrency limits (`resources`), the states an execution enters, including the crawler poll
loop (`statemachine.definition`, walked state by state), the chunks (`trigger.chunks`) and the
retry settings that decide how long a start may wait for a busy job or crawler. What only a
real account can tell is an assumption, named below with where its value comes from.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from orchestration import resources as r
from orchestration import statemachine, trigger
from retail_etl import flow
from retail_etl.params import DayRange

# Prices (AWS, 2026; DESIGN.md "Runtime facts"; sources in the README):
GLUE_USD_PER_DPU_HOUR = 0.44  # jobs and crawlers alike
JOB_MIN_BILLED_SECONDS = 60  # Glue 2.0 and later: per second, 1-minute minimum
CRAWL_MIN_BILLED_MINUTES = 10  # per crawl
SFN_USD_PER_TRANSITION = 0.025 / 1000  # Standard workflows
DPU_PER_WORKER = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8}

# Assumptions (not measurable without an account; change them here and the table follows):
JOB_START_SECONDS = 30  # Glue 5 job start-up until the script runs
JOB_SECONDS_PER_RUN = 15  # session, catalog, gates and publish of one run (local: `make run`)
JOB_SECONDS_PER_DAY = 1.0  # work per day at the sample's scale (local: `make bench-backfill`)
# A night with a look-back re-reads only the days the source changed: 3.3 of its 3 window days
# a night, both tables together, on the sample month (`make bench-lookback`, part "sample"); a
# job writes about half of them (1.7 each). The window's fingerprints are one grouped query;
# at the sample's scale it is part of the run's fixed seconds (part "fingerprint").
RESTATED_DAYS_PER_JOB_RUN = 1.7
CRAWL_MINUTES = 2.0  # one crawl of one new day folder
CRAWLER_DPUS = 2  # what a crawl is billed for (not configurable; assumed)

# Runs of each Glue job in one chunk, from the flow itself (d2s: once per branch).
RUNS_PER_CHUNK = Counter(step.job.name for branch in flow.FLOW for step in branch.steps)


@dataclass(frozen=True)
class Scenario:
    scenario: str
    flow: str  # "per day" (before ranges) or "range" (one execution, chunks in sequence)
    catalog: str  # "tables" or "crawlers"
    days: int
    executions: int
    job_runs: int
    crawls: int
    dpu_minutes_billed: float
    state_transitions: int
    usd: float
    critical_path_minutes: float
    # job or crawler starts that would wait longer than their retries allow, and fail
    starts_over_retry_budget: int


def job_seconds(days: float) -> float:
    return JOB_START_SECONDS + JOB_SECONDS_PER_RUN + JOB_SECONDS_PER_DAY * days


def job_dpus(job: r.GlueJob) -> int:
    return max(2, job.workers * DPU_PER_WORKER[job.worker_type])


def transitions(definition: dict[str, Any], given: dict[str, Any], chunks: int) -> int:
    """States entered by one successful execution of `definition` started with `given`, every
    crawl polled until READY after `polls_per_crawl()` polls."""
    return _walk(definition["States"], definition["StartAt"], given, chunks)


def polls_per_crawl() -> int:
    return math.ceil(CRAWL_MINUTES * 60 / r.CRAWLER_POLL_SECONDS)


def _walk(states: dict[str, Any], start: str, given: dict[str, Any], chunks: int) -> int:
    entered = 0
    polls: dict[str, int] = {}
    name: str | None = start
    while name is not None:
        state = states[name]
        entered += 1
        kind = state["Type"]
        if kind == "Parallel":
            entered += sum(
                _walk(b["States"], b["StartAt"], given, chunks) for b in state["Branches"]
            )
        elif kind == "Map":
            processor = state["ItemProcessor"]
            entered += chunks * _walk(processor["States"], processor["StartAt"], given, chunks)
        if kind == "Choice":
            name = _choose(name, state, given, polls)
        elif kind in ("Succeed", "Fail") or state.get("End"):
            name = None
        else:
            name = state["Next"]
    return entered


def _choose(name: str, state: dict[str, Any], given: dict[str, Any], polls: dict[str, int]) -> str:
    """The way a successful execution goes at a Choice."""
    first = state["Choices"][0]
    if name == statemachine.WHICH_DAYS:
        for rule in state["Choices"]:
            needed = [c["Variable"] for c in rule.get("And", [rule])]
            if all(v.removeprefix("$.") in given for v in needed):
                return str(rule["Next"])
        return str(state["Default"])
    if name == statemachine.LOOKBACK_GIVEN:
        return str(first["Next"] if "LOOKBACK_DAYS" in given else state["Default"])
    if first.get("NumericEquals") == 0:  # "has files?": the day left files, so it is crawled
        return str(state["Default"])
    if first.get("StringEquals") == "READY":  # poll until READY
        polls[name] = polls.get(name, 0) + 1
        if polls[name] <= polls_per_crawl():
            return str(state["Default"])
        polls[name] = 0
        return str(first["Next"])
    return str(first["Next"])


def retry_budget_seconds(error: str) -> float:
    """The longest a start failing with `error` is retried, by the definition's own retrier
    (delays before each retry, capped by MaxDelaySeconds; jitter only shortens them)."""
    for state in _all_states(statemachine.definition(crawlers=True)):
        for retrier in state.get("Retry", []):
            if error in retrier["ErrorEquals"]:
                interval = retrier.get("IntervalSeconds", 1)
                backoff = retrier.get("BackoffRate", 2.0)
                cap = retrier.get("MaxDelaySeconds", math.inf)
                return sum(
                    min(cap, interval * backoff**k) for k in range(retrier.get("MaxAttempts", 3))
                )
    raise KeyError(error)


def _all_states(machine: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in machine["States"].values():
        found.append(state)
        for inner in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
            found += _all_states(inner)
    return found


def _over_budget(starts: int, at_once: int, each_seconds: float, budget: float) -> int:
    """Of `starts` requested together, served `at_once` at a time, `each_seconds` each: how many
    wait longer than `budget`."""
    return sum(1 for n in range(starts) if (n // at_once) * each_seconds > budget)


def scenario(name: str, days: DayRange, mode: str, crawlers: bool, lookback: int = 0) -> Scenario:
    definition = statemachine.definition(crawlers)
    jobs = {job.name: job for job in r.JOBS}
    crawls_per_chunk = len(r.CRAWLERS) if crawlers else 0
    if mode == "per day":
        executions, chunk_days = len(days), [1] * len(days)
        given: dict[str, Any] = {"EXTRACT_DATE": str(days.first)}
        if lookback:
            given["LOOKBACK_DAYS"] = str(lookback)
    else:
        parts = trigger.chunks(days)
        executions, chunk_days = 1, [(b - a).days + 1 for a, b in parts]
        given = trigger.execution_input(days, lookback)
    restated = min(float(lookback), RESTATED_DAYS_PER_JOB_RUN) if lookback else 0.0
    job_runs = sum(RUNS_PER_CHUNK.values()) * len(chunk_days)
    dpu_seconds = 0.0
    for n_days in chunk_days:
        for job_name, runs in RUNS_PER_CHUNK.items():
            billed = max(JOB_MIN_BILLED_SECONDS, job_seconds(n_days + restated))
            dpu_seconds += runs * billed * job_dpus(jobs[job_name])
    crawls = crawls_per_chunk * len(chunk_days)
    crawl_dpu_minutes = crawls * max(CRAWL_MIN_BILLED_MINUTES, CRAWL_MINUTES) * CRAWLER_DPUS
    dpu_minutes = dpu_seconds / 60 + crawl_dpu_minutes
    per_execution = transitions(definition, given, 1 if mode == "per day" else len(chunk_days))
    state_transitions = per_execution * executions
    usd = dpu_minutes / 60 * GLUE_USD_PER_DPU_HOUR + state_transitions * SFN_USD_PER_TRANSITION
    crawl_wall = (polls_per_crawl() * r.CRAWLER_POLL_SECONDS) / 60 if crawlers else 0.0

    def chunk_minutes(n_days: int) -> float:
        # a branch: d2s, crawl, s2s, crawl(s) (the sales crawls in parallel)
        return 2 * job_seconds(n_days + restated) / 60 + 2 * crawl_wall

    over = 0
    if mode == "per day" and len(days) > 1:
        d2s = jobs[r.D2S_JOB]
        waves = math.ceil(RUNS_PER_CHUNK[r.D2S_JOB] * len(days) / d2s.max_concurrent_runs)
        critical = waves * job_seconds(1) / 60 + chunk_minutes(1) - job_seconds(1) / 60
        over += _over_budget(
            RUNS_PER_CHUNK[r.D2S_JOB] * len(days), d2s.max_concurrent_runs, job_seconds(1),
            retry_budget_seconds("Glue.ConcurrentRunsExceededException"),
        )  # fmt: skip
        if crawlers:  # one crawl at a time per crawler, each day's crawl queued behind the last
            critical = max(critical, len(days) * crawl_wall)
            over += len(r.CRAWLERS) * _over_budget(
                len(days), 1, crawl_wall * 60, retry_budget_seconds("Glue.CrawlerRunningException")
            )
    else:
        critical = sum(chunk_minutes(n) for n in chunk_days)
    return Scenario(
        scenario=name,
        flow=mode,
        catalog="crawlers" if crawlers else "tables",
        days=len(days),
        executions=executions,
        job_runs=job_runs,
        crawls=crawls,
        dpu_minutes_billed=round(dpu_minutes, 1),
        state_transitions=state_transitions,
        usd=round(usd, 2),
        critical_path_minutes=round(critical, 1),
        starts_over_retry_budget=over,
    )


def scenarios() -> list[Scenario]:
    start = date(2015, 1, 1)
    cases = [
        ("nightly", DayRange.one(start)),
        (f"nightly, look-back {r.DEFAULT_LOOKBACK_DAYS}", DayRange.one(start)),
        ("backfill 31 days", DayRange(start, start + timedelta(days=30))),
        ("backfill 365 days", DayRange(start, start + timedelta(days=364))),
    ]
    found = []
    for name, days in cases:
        lookback = r.DEFAULT_LOOKBACK_DAYS if "look-back" in name else 0
        for mode in ("per day",) if len(days) == 1 else ("per day", "range"):
            for crawlers in (False, True):
                found.append(scenario(name, days, mode, crawlers, lookback))
    return found


COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("scenario", "scenario", str),
    ("flow", "flow", str),
    ("catalog", "catalog", str),
    ("executions", "executions", lambda v: f"{v:,}"),
    ("job_runs", "job runs", lambda v: f"{v:,}"),
    ("crawls", "crawls", lambda v: f"{v:,}"),
    ("dpu_minutes_billed", "DPU-min billed", lambda v: f"{v:,.0f}"),
    ("state_transitions", "transitions", lambda v: f"{v:,}"),
    ("usd", "USD", lambda v: f"{v:,.2f}"),
    ("critical_path_minutes", "critical path (min)", lambda v: f"{v:,.0f}"),
    ("starts_over_retry_budget", "starts failing retries", lambda v: f"{v:,}"),
]


def markdown(found: list[Scenario]) -> str:
    lines = [
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for s in found:
        values = asdict(s)
        lines.append("| " + " | ".join(show(values[key]) for key, _, show in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.costs",
        description="Glue job runs, crawls, billed DPU-minutes, state transitions and USD for a "
        "nightly run and 31- and 365-day backfills, before and after ranges.",
    )
    parser.add_argument("--json", action="store_true", help="a list of scenarios, as JSON")
    args = parser.parse_args(argv)
    if argv is None:  # as a command: `... | head` ends quietly when head does
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    found = scenarios()
    if args.json:
        print(json.dumps([asdict(s) for s in found], indent=2))
    else:
        print(markdown(found))
        print(
            f"\nAssumed: job start {JOB_START_SECONDS} s, {JOB_SECONDS_PER_RUN} s a run and "
            f"{JOB_SECONDS_PER_DAY} s a day of work; a crawl {CRAWL_MINUTES} min on "
            f"{CRAWLER_DPUS} DPUs (billed at least {CRAWL_MIN_BILLED_MINUTES} min). "
            "Prices: Glue $0.44 per DPU-hour, Step Functions $0.025 per 1,000 transitions."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
