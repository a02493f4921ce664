"""One night rehearsed: the trigger starts the state machine for a day, the state machine runs
the four jobs, and every call is checked against the role that made it."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from orchestration import resources as r
from orchestration.rehearsal import authorization as authz
from orchestration.rehearsal.cloud import ACCOUNT, INTERPRETER_KEY, Rehearsal
from orchestration.rehearsal.policy import Request, evaluate
from orchestration.rehearsal.recorder import count_by_role
from orchestration.rehearsal.stack import ResolvedStack
from retail_etl.flow import FLOW
from retail_etl.settings import SourceDb

ROLE_IDS = ("GlueRole", "StateMachineRole", "TriggerRole")


@dataclass(frozen=True)
class Denial:
    role: str
    call: authz.Call
    request: Request

    def __str__(self) -> str:
        context = ", ".join(f"{k}={v}" for k, v in self.request.context.items())
        return (
            f"denied: role {self.role}: {self.request.action} on {self.request.resource}"
            + (f" ({context})" if context else "")
            + f", for the call {self.call.label()}: no statement of the role allows it"
        )


@dataclass(frozen=True)
class Published:
    table: str
    day: str
    location: str
    rows: int


@dataclass(frozen=True)
class Execution:
    """One trigger event and the execution it started."""

    event: Mapping[str, Any]
    trigger: Mapping[str, Any]  # what the trigger answered
    status: str
    seconds: float
    error: str | None


@dataclass
class Night:
    """What a rehearsal did: its executions, one after another, and every call they made."""

    day: date
    endpoint: str
    executions: list[Execution]
    job_runs: list[dict[str, Any]]
    published: list[Published]
    calls: list[authz.Call]
    denials: list[Denial]
    statements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # role -> stmts
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(e.status == "SUCCEEDED" for e in self.executions) and not self.denials


def role_statements(stack: ResolvedStack) -> dict[str, list[dict[str, Any]]]:
    """Each of the stack's roles, by name, with every statement it has."""
    return {
        stack.resources[i]["Properties"]["RoleName"]: stack.role_statements(i) for i in ROLE_IDS
    }


def check(
    calls: Iterable[authz.Call], statements: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[Denial]:
    """Every call's IAM requests, evaluated against the statements of the role that made it."""
    denials = []
    for call in calls:
        for request in authz.requests_of(ACCOUNT, call):
            if not evaluate(statements[call.role], request):
                denials.append(Denial(call.role, call, request))
    return denials


def scheduled_night(day: date) -> dict[str, Any]:
    """The schedule's event for the night of `day`: 01:00 in Seoul the next morning (16:00 UTC),
    which starts `day` with the deployed look-back."""
    return {
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "time": f"{day.isoformat()}T16:00:00Z",
        "detail": {},
    }


def rehearsal_events(day: date) -> list[dict[str, Any]]:
    """What `make rehearse` triggers: the scheduled night of `day` (its look-back publishes the
    days before it), then the same day rerun with a look-back of 2, which replaces its published
    days (BatchUpdatePartition), removes the older run's folders and reads the fingerprints the
    night recorded."""
    return [scheduled_night(day), {"EXTRACT_DATE": day.isoformat(), "rerun": True, "lookback": 2}]


def rehearse(
    work: Path,
    source: SourceDb,
    day: date,
    events: Sequence[Mapping[str, Any]] | None = None,
    timeout: float = 900,
) -> Night:
    """Deploy into moto, trigger each event (default `rehearsal_events(day)`) as the trigger
    role, wait for each execution, check every call; the events' days are read back."""
    events = rehearsal_events(day) if events is None else list(events)
    rehearsal = Rehearsal(work, source)
    rehearsal.start()
    try:
        rehearsal.deploy()
        assert rehearsal.stack is not None and rehearsal.recorder is not None
        executions, integration_calls = [], []
        for event in events:
            started = time.monotonic()
            answer = rehearsal.trigger(event)
            described = rehearsal.wait(answer["executionArn"], timeout)
            cause = ": ".join(filter(None, (described.get("error"), described.get("cause"))))
            seconds = time.monotonic() - started
            executions.append(Execution(event, answer, described["status"], seconds, cause or None))
            integration_calls += rehearsal.integration_calls(described["history"])
        # The interpreter's own HTTP calls are moto's way of running a task; what AWS
        # authorizes is the integration as documented, from the executions' histories.
        recorded = [
            c
            for c in rehearsal.recorder.calls(rehearsal.roles_by_key)
            if c.role and c.role != rehearsal.roles_by_key[INTERPRETER_KEY]
        ]
        calls = recorded + integration_calls
        statements = role_statements(rehearsal.stack)
        return Night(
            day=day,
            endpoint=rehearsal.endpoint,
            executions=executions,
            job_runs=_job_runs(rehearsal),
            published=_published(rehearsal, _days_of(events, day)),
            calls=calls,
            denials=check(calls, statements),
            statements=statements,
            logs=rehearsal.job_logs(),
        )
    finally:
        rehearsal.stop()


# The job arguments the night's report keeps: the target, the days and the look-back.
KEPT_ARGUMENTS = ("--TARGET_DATA", "--EXTRACT_DATE_FROM", "--EXTRACT_DATE_TO", "--LOOKBACK_DAYS")


def _job_runs(rehearsal: Rehearsal) -> list[dict[str, Any]]:
    glue = rehearsal.client("glue")
    runs = []
    for job in r.JOBS:
        for run in glue.get_job_runs(JobName=job.name)["JobRuns"]:
            runs.append(
                {
                    "job": job.name,
                    "arguments": {
                        k: v for k, v in run.get("Arguments", {}).items() if k in KEPT_ARGUMENTS
                    },
                    "state": run["JobRunState"],
                    "error": run.get("ErrorMessage"),
                }
            )
    return runs


def _days_of(events: Sequence[Mapping[str, Any]], day: date) -> list[date]:
    """`day` and the first and last day of every event (the days worth reading back)."""
    days = {day}
    for event in events:
        for key in ("EXTRACT_DATE", "from", "to"):
            if key in event:
                days.add(date.fromisoformat(str(event[key])))
    return sorted(days)


def _published(rehearsal: Rehearsal, days: Sequence[date]) -> list[Published]:
    """Each table's days as a reader finds them: the catalog's partition, then its files."""
    import pyarrow.parquet as pq

    glue, s3 = rehearsal.client("glue"), rehearsal.client("s3")
    found = []
    tables = [t for branch in FLOW for step in branch.steps for t in step.publishes]
    for table, day in ((t, d) for t in tables for d in days):
        try:
            partition = glue.get_partition(
                DatabaseName=r.GLUE_DATABASE,
                TableName=table.name,
                PartitionValues=[day.isoformat()],
            )["Partition"]
        except glue.exceptions.EntityNotFoundException:
            continue
        location = partition["StorageDescriptor"]["Location"]
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
        rows = 0
        for item in listed.get("Contents", []):
            if item["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
        found.append(Published(table.name, day.isoformat(), location, rows))
    return found


def failed_steps(error: str) -> str:
    """An execution's error without the caught job runs' JSON: its name and each failed
    branch's step (the jobs' own one-line errors are listed with the job runs)."""
    name, _, cause = error.partition(": ")
    steps = re.findall(r"\[\w+ branch failed\] ([^{]+?): \{", cause)
    return f"{name}: {'; '.join(steps)}" if steps else error


def report(night: Night) -> str:
    lines = [
        f"rehearsal of {night.day} against moto at {night.endpoint} "
        f"(account {ACCOUNT.account}, {ACCOUNT.region})",
    ]
    for e in night.executions:
        lines += [
            f"trigger {json.dumps(dict(e.event))} (as the trigger role): {e.trigger['status']} "
            f"{e.trigger['executionArn'].rpartition(':')[2]}",
            f"  execution: {e.status} in {e.seconds:.1f} s"
            + (f": {failed_steps(e.error)}" if e.error else ""),
        ]
    lines += [
        "",
        "job runs (as the Glue role, on S3 through S3A and the Glue Data Catalog):",
    ]
    for run in night.job_runs:
        arguments = " ".join(f"{k} {v}" for k, v in sorted(run["arguments"].items()))
        lines.append(f"  {run['job']:<34} {arguments:<70} {run['state']}")
        if run["error"]:
            lines.append(f"    {run['error']}")
    lines += ["", "published, read back through the catalog:"]
    for p in night.published:
        lines.append(f"  {p.table:<26} {p.day}  {p.rows:>8,} rows  {p.location}")
    lines += ["", "calls per role, each checked against the role's statements:"]
    for role, counts in sorted(count_by_role(night.calls).items()):
        lines.append(f"  {role}: {sum(counts.values()):,} calls")
        for label, n in sorted(counts.items()):
            lines.append(f"    {label:<40} {n:>6,}")
    lines.append("")
    if night.denials:
        seen = sorted({str(d) for d in night.denials})
        lines += [f"{len(night.denials)} request(s) denied:", *(f"  {d}" for d in seen)]
    else:
        lines.append("no call denied")
    return "\n".join(lines)
