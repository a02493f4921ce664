"""Lambda `{prefix}-hist-retail-dailybatch`: starts the daily-batch state machine for a date.

Events it takes:
- the daily EventBridge schedule (`"detail-type": "Scheduled Event"`): EXTRACT_DATE is the day
  before the event's `time`, in Asia/Seoul;
- `{"EXTRACT_DATE": "2015-01-05"}`: that day;
- `{"from": "2015-01-01", "to": "2015-01-31"}`: a backfill, one execution per day (inclusive);
- any of them with `"rerun": true`: start again even if that day already has an execution.

Executions are named `hist-retail-YYYY-MM-DD`, so a second trigger for a date finds the name
taken and starts nothing new (Step Functions keeps a name for 90 days); it reports the existing
execution as "already running", "already succeeded", ... A rerun adds a suffix.
Dates are validated as the jobs validate them; a bad one starts nothing.
The state machine's ARN comes from the STATE_MACHINE_ARN environment variable.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from retail_etl.errors import ArgumentError
from retail_etl.params import parse_extract_date

SEOUL = ZoneInfo("Asia/Seoul")
MAX_BACKFILL_DAYS = 366
EXECUTION_PREFIX = "hist-retail-"


class TriggerError(ValueError):
    """The event asks for something this trigger will not start; nothing was started."""


def extract_dates(event: dict[str, Any]) -> list[date]:
    """The business days an event asks for, validated, oldest first."""
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        fired = datetime.fromisoformat(str(event["time"]))  # Python 3.11 reads the trailing Z
        return [fired.astimezone(SEOUL).date() - timedelta(days=1)]
    try:
        if "EXTRACT_DATE" in event:
            return [parse_extract_date(str(event["EXTRACT_DATE"]))]
        if "from" in event or "to" in event:
            if not (event.get("from") and event.get("to")):
                raise TriggerError("a backfill needs both 'from' and 'to'")
            first = parse_extract_date(str(event["from"]))
            last = parse_extract_date(str(event["to"]))
        else:
            raise TriggerError(
                'expected {"EXTRACT_DATE": "YYYY-MM-DD"}, {"from": ..., "to": ...} '
                "or a scheduled event"
            )
    except ArgumentError as err:
        raise TriggerError(str(err).replace("--EXTRACT_DATE", "date")) from None
    if last < first:
        raise TriggerError(f"backfill 'from' {first} is after 'to' {last}")
    days = (last - first).days + 1
    if days > MAX_BACKFILL_DAYS:
        raise TriggerError(f"backfill of {days} days is longer than {MAX_BACKFILL_DAYS}")
    return [first + timedelta(days=n) for n in range(days)]


def execution_name(day: date, rerun: bool) -> str:
    name = f"{EXECUTION_PREFIX}{day.isoformat()}"
    return f"{name}-rerun-{uuid.uuid4().hex[:8]}" if rerun else name


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def execution_status(client: Any, arn: str) -> str | None:
    """RUNNING, SUCCEEDED, FAILED, ... of an execution, or None when there is none."""
    try:
        return str(client.describe_execution(executionArn=arn)["status"])
    except client.exceptions.ExecutionDoesNotExist:
        return None


def start_executions(
    client: Any, state_machine_arn: str, days: list[date], rerun: bool
) -> list[dict[str, str]]:
    """Start one execution per day; a day that already has its execution is reported, not rerun.

    The execution is looked up first: StartExecution with the name and input of a *running*
    execution succeeds and answers that execution, so its answer alone cannot tell "started"
    from "already running".
    """
    started = []
    for day in days:
        name = execution_name(day, rerun)
        arn = execution_arn(state_machine_arn, name)
        status = None if rerun else execution_status(client, arn)
        if status is None:
            try:
                arn = client.start_execution(
                    stateMachineArn=state_machine_arn,
                    name=name,
                    input=json.dumps({"EXTRACT_DATE": day.isoformat()}),
                )["executionArn"]
                outcome = "started"
            except client.exceptions.ExecutionAlreadyExists:  # started since we looked
                outcome = "already started"
        else:
            outcome = f"already {status.lower().replace('_', ' ')}"
        started.append({"EXTRACT_DATE": day.isoformat(), "executionArn": arn, "status": outcome})
    return started


def handler(event: dict[str, Any], context: Any = None, client: Any = None) -> dict[str, Any]:
    """Lambda entry point. Raises TriggerError (a failed invocation) for a bad event."""
    state_machine_arn = os.environ.get("STATE_MACHINE_ARN")
    if not state_machine_arn:
        raise TriggerError("STATE_MACHINE_ARN is not set")
    days = extract_dates(event)  # validated before any call to AWS
    if client is None:
        import boto3

        client = boto3.client("stepfunctions")
    executions = start_executions(client, state_machine_arn, days, rerun=bool(event.get("rerun")))
    return {"executions": executions}
