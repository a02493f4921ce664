"""The first night, rehearsed: the deployed definition on moto, the real jobs as the Glue role
on S3 through S3A and the Glue Data Catalog, every call checked against its role's policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from conftest import sql_one

from orchestration import resources as r
from orchestration.rehearsal import authorization as authz
from orchestration.rehearsal.cloud import ACCOUNT, PREFIX
from orchestration.rehearsal.night import (
    Night,
    check,
    failed_steps,
    rehearse,
    report,
    scheduled_night,
)
from orchestration.rehearsal.policy import matches
from retail_etl.settings import SourceDb

DAY = date(2015, 1, 5)
EMPTY_DAY = date(2015, 1, 20)  # after the seeded days (the 1st to the 10th): no rows
# The night of DAY; then a rerun of a range that replaces DAY (BatchUpdatePartition), creates
# the days after it and publishes the empty days empty (BatchDeletePartition), in one chunk.
# The night comes from the schedule, with the deployed look-back (3: the days before DAY are
# restated, never having been published); the rerun's look-back of 2 reads what the night
# recorded (run records on S3, partitions through Glue) and finds those days unchanged.
EVENTS = [
    scheduled_night(DAY),
    {"from": DAY.isoformat(), "to": EMPTY_DAY.isoformat(), "rerun": True, "lookback": 2},
]
GLUE, MACHINE, TRIGGER = (r.role_name(PREFIX, k) for k in ("glue", "statemachine", "trigger"))

# Statements no call of a night needs, each with why it stays. Anything else a night does not
# use is a grant nobody needs: remove it from orchestration/iam.py, or say here why it stays.
NOT_EXERCISED = {
    GLUE: {
        "GlueLogs": "Glue writes the job's logs to /aws-glue/* itself, as the role",
        "LakeBucketLocation": "an S3 client not told the bucket's region asks for it; the "
        "rehearsal gives S3A its endpoint, so none asks here",
        "LakeMultipartUploads": "S3A lists pending uploads to clean up after a failed write of "
        "a file over fs.s3a.multipart.threshold (128 MB); the sample's files are smaller",
    },
    MACHINE: {
        "LogDeliveryCannotBeScoped": "Step Functions sets up its ERROR log delivery when the "
        "state machine is created or updated, not while it runs",
    },
    TRIGGER: {
        "OwnLogs": "Lambda writes the function's logs itself, as the role",
        "AlertOnFailure": "Lambda publishes a failed asynchronous invocation to the topic "
        "itself, as the role",
    },
}
# Actions of used statements that no call needed: only a failed write of a file over S3A's
# multipart threshold aborts its upload (LakeObjects).
NOT_EXERCISED_ACTIONS = {GLUE: {"s3:AbortMultipartUpload"}}


@pytest.fixture(scope="module")
def night(seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:  # type: ignore[no-untyped-def]
    source = SourceDb("127.0.0.1", seeded.port, seeded.database, seeded.user)
    done = rehearse(tmp_path_factory.mktemp("rehearsal"), source, DAY, EVENTS)
    print(report(done))
    yield done


def requests_by_role(night: Night) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for call in night.calls:
        found.setdefault(call.role, []).extend(authz.requests_of(ACCOUNT, call))
    return found


@pytest.mark.integration
def test_the_night_runs_every_job_of_the_deployed_definition(night: Night) -> None:
    statuses = [(e.trigger["status"], e.status) for e in night.executions]
    assert statuses == [("started", "SUCCEEDED")] * 2, (night.executions, night.logs)

    def span(first: date, last: date, lookback: str) -> dict[str, str]:
        return {
            "--EXTRACT_DATE_FROM": first.isoformat(),
            "--EXTRACT_DATE_TO": last.isoformat(),
            "--LOOKBACK_DAYS": lookback,
        }

    runs = sorted((j["job"], *sorted(j["arguments"].items()), j["state"]) for j in night.job_runs)
    chunks = [span(DAY, DAY, str(r.DEFAULT_LOOKBACK_DAYS)), span(DAY, EMPTY_DAY, "2")]
    expected = [
        (job, *sorted({**days, **fixed}.items()), "SUCCEEDED")
        for days in chunks
        for job, fixed in [
            (r.D2S_JOB, {"--TARGET_DATA": "balju"}),
            (r.D2S_JOB, {"--TARGET_DATA": "sales"}),
            (r.BALJU_S2S_JOB, {}),
            (r.SALES_S2S_JOB, {}),
        ]
    ]
    assert runs == sorted(expected)


@pytest.mark.integration
def test_every_day_is_published_on_s3_through_the_catalog_with_the_sources_rows(
    night: Night, seeded
) -> None:  # type: ignore[no-untyped-def]
    d = DAY.isoformat()
    sales = "FROM retail.sales WHERE sold_at >= %s::date AND sold_at < %s::date + 1"
    balju = "FROM retail.balju WHERE balju_date = %s"
    counts = {
        "factdata_balju": (f"count(*) {balju}", (d,)),
        "factdata_sales": (f"count(*) {sales}", (d, d)),
        "silver_dailybalju": (
            f"count(DISTINCT (store_id, item_id, supplier_id)) {balju} "
            "AND status IS DISTINCT FROM 'CANCELLED'",
            (d,),
        ),
        "silver_dailysales_item": (f"count(DISTINCT (store_id, item_id)) {sales}", (d, d)),
        "silver_dailysales_store": (f"count(DISTINCT store_id) {sales}", (d, d)),
        "silver_dailysales_hourly": (
            f"count(DISTINCT (store_id, extract(hour FROM sold_at))) {sales}",
            (d, d),
        ),
    }
    expected = {t: sql_one(seeded, f"SELECT {q}", args)[0] for t, (q, args) in counts.items()}
    published = {p.table: p for p in night.published if p.day == d}
    assert {t: p.rows for t, p in published.items()} == expected
    assert not [p for p in night.published if p.day == EMPTY_DAY.isoformat()]
    for p in published.values():
        assert p.location.startswith("s3://rehearsal-hist-retail-lake/")
        assert "/_runs/" in p.location and p.location.endswith(f"/extract_date={d}")


@pytest.mark.integration
def test_the_schedules_look_back_restates_on_s3_and_the_rerun_finds_it_unchanged(
    night: Night,
) -> None:
    """The night's d2s runs publish the three days before DAY (never published); the rerun's
    look-back reads their fingerprints back from the night's records on S3 and reads them not
    again. Said by the jobs themselves, in their logs."""
    window = ", ".join(f"2015-01-0{n}" for n in (2, 3, 4))
    d2s = [log for name, log in night.logs.items() if name.startswith(r.D2S_JOB)]
    assert len(d2s) == 4, list(night.logs)
    restating = [log for log in d2s if f"restated {window} (never published)" in log]
    assert len(restating) == 2  # the night's, balju and sales
    assert all("restated" not in log for log in d2s if log not in restating)


@pytest.mark.integration
def test_no_call_of_the_night_is_denied(night: Night) -> None:
    assert {c.role for c in night.calls} == {GLUE, MACHINE, TRIGGER}
    assert not night.denials, "\n".join(sorted({str(d) for d in night.denials}))


@pytest.mark.integration
def test_every_action_a_call_needs_is_missed_when_removed(night: Night) -> None:
    """Take any one action that a recorded call needs out of its role, and the check names it."""
    needed = {(role, q.action) for role, qs in requests_by_role(night).items() for q in qs}
    assert (GLUE, "glue:BatchGetPartition") in needed
    missed = []
    for role, action in sorted(needed):
        without = [
            {**s, "Action": [a for a in s["Action"] if a.lower() != action.lower()]}
            for s in night.statements[role]
        ]
        denials = check([c for c in night.calls if c.role == role], {role: without})
        if not any(d.request.action == action for d in denials):
            missed.append(f"{role}: {action}")
    assert not missed, f"removing these denied nothing: {missed}"


@pytest.mark.integration
def test_every_grant_is_used_by_a_call_or_says_why_not(night: Night) -> None:
    used = requests_by_role(night)
    for role, statements in night.statements.items():
        idle = {s["Sid"] for s in statements if not any(matches(s, q) for q in used.get(role, []))}
        assert idle == set(NOT_EXERCISED.get(role, {})), role
        actions = {a for s in statements for a in s["Action"]}
        unused = {
            a for a in actions if not any(q.action.lower() == a.lower() for q in used.get(role, []))
        }
        idle_actions = {a for s in statements if s["Sid"] in idle for a in s["Action"]}
        assert unused - idle_actions == NOT_EXERCISED_ACTIONS.get(role, set()), role


def test_a_failed_execution_is_reported_by_its_steps_not_its_json() -> None:
    error = (
        "GlueJobFailed: [balju branch failed] balju: extract (d2s) [jb] for 2015-01-05..2015-01-05:"
        ' {"Error":"States.TaskFailed","Cause":"{...}"} [sales branch failed] sales: build silver'
        ' (s2s) [jb2] for 2015-01-05..2015-01-05: {"Error":"x"} '
    )
    assert failed_steps(error) == (
        "GlueJobFailed: balju: extract (d2s) [jb] for 2015-01-05..2015-01-05; "
        "sales: build silver (s2s) [jb2] for 2015-01-05..2015-01-05"
    )


@pytest.mark.integration
def test_a_source_that_is_down_fails_the_night_with_the_jobs_line(tmp_path, seeded) -> None:  # type: ignore[no-untyped-def]
    from conftest import free_port

    down = SourceDb("127.0.0.1", free_port(), seeded.database, seeded.user)  # nothing listens

    done = rehearse(tmp_path, down, DAY, [{"EXTRACT_DATE": DAY.isoformat()}])

    (execution,) = done.executions
    assert (execution.status, execution.error.split(":")[0]) == ("FAILED", "GlueJobFailed")
    assert "[balju branch failed]" in execution.error and "[sales branch failed]" in execution.error
    d2s = [j for j in done.job_runs if j["job"] == r.D2S_JOB]
    assert [j["state"] for j in d2s] == ["FAILED", "FAILED"]
    assert all(f"cannot read from PostgreSQL at 127.0.0.1:{down.port}" in j["error"] for j in d2s)
    assert not [j for j in done.job_runs if j["job"] != r.D2S_JOB]  # no s2s on a failed d2s
    assert not done.denials
    assert done.published == []
