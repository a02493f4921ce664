"""`python -m orchestration.costs`: the scenarios' counts follow from the definitions."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

from orchestration import costs

FIELDS = {
    "scenario", "days", "job_runs", "crawls", "dpu_minutes_billed", "state_transitions", "usd",
}  # fmt: skip


def by_key(found: list[dict[str, object]]) -> dict[tuple[object, ...], dict[str, object]]:
    return {(s["scenario"], s["flow"], s["catalog"]): s for s in found}


def test_json_lists_every_scenario_with_the_issues_fields() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.costs", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert all(set(s) >= FIELDS for s in found)
    s = by_key(found)
    # A night: four job runs (d2s twice, each s2s once); six crawls with the crawler option.
    assert (
        s["nightly", "per day", "tables"]["job_runs"],
        s["nightly", "per day", "tables"]["crawls"],
    ) == (4, 0)
    assert s["nightly", "per day", "crawlers"]["crawls"] == 6
    # A night with the look-back: the same four runs and transitions, each run a little longer
    # (its restated days), still inside the minute Glue bills at least.
    night, looked = (
        s["nightly", "per day", "tables"],
        s["nightly, look-back 3", "per day", "tables"],
    )
    for same in ("job_runs", "crawls", "state_transitions", "dpu_minutes_billed"):
        assert looked[same] == night[same], same
    assert looked["critical_path_minutes"] >= night["critical_path_minutes"]
    # A year one execution a day, as before ranges: 1,460 job runs and 2,190 crawls.
    year_before = s["backfill 365 days", "per day", "crawlers"]
    assert (year_before["job_runs"], year_before["crawls"]) == (1460, 2190)
    # A year as one range: twelve calendar-month chunks of four runs (and six crawls).
    year = s["backfill 365 days", "range", "crawlers"]
    assert (year["executions"], year["job_runs"], year["crawls"]) == (1, 48, 72)
    assert s["backfill 365 days", "range", "tables"]["crawls"] == 0
    assert year["starts_over_retry_budget"] == 0 < year_before["starts_over_retry_budget"]
    assert year["usd"] < year_before["usd"] / 10  # type: ignore[operator]


def test_a_crawl_is_billed_at_least_ten_minutes_and_a_job_run_one() -> None:
    night = costs.scenario("n", costs.DayRange.one(costs.date(2015, 1, 5)), "per day", True)
    tables = costs.scenario("n", costs.DayRange.one(costs.date(2015, 1, 5)), "per day", False)
    job_dpu_minutes = 4 * 1 * 2  # four runs, at least a minute each, at least 2 DPUs
    assert tables.dpu_minutes_billed >= job_dpu_minutes
    assert night.dpu_minutes_billed - tables.dpu_minutes_billed == 6 * 10 * costs.CRAWLER_DPUS


def test_retry_budgets_are_read_from_the_definition() -> None:
    # ConcurrentRunsExceeded: 5 attempts from 30 s, doubling: 30 + 60 + 120 + 240 + 480
    assert costs.retry_budget_seconds("Glue.ConcurrentRunsExceededException") == 930
    # CrawlerRunning: 8 attempts from 60 s, x1.5, at most 600 s each
    expected = sum(min(600, 60 * 1.5**k) for k in range(8))
    assert costs.retry_budget_seconds("Glue.CrawlerRunningException") == expected


def test_the_readme_shows_the_table_the_module_computes() -> None:
    readme = (REPO / "README.md").read_text()
    assert costs.markdown(costs.scenarios()) in readme
