"""Lambda `{prefix}-hist-retail-dailybatch`: starts the batch state machine for a day or a range.

Events it takes:
- the daily EventBridge schedule (`"detail-type": "Scheduled Event"`): EXTRACT_DATE is the day
  before the event's `time`, in Asia/Seoul;
- `{"EXTRACT_DATE": "2015-01-05"}`: that day;
- `{"from": "2015-01-01", "to": "2015-12-31"}`: a backfill (inclusive, at most 366 days) as ONE
  execution, whose input lists the range's calendar months as chunks; the state machine runs
  them one after another, so a backfill never contends with itself;
- any of them with `"rerun": true`: start again even if that day or range already has an
  execution;
- a manual one with `"lookback": N` (0 to 62; default 0): also re-check the N days before the
  first day, restating those the source changed since they were published. The schedule's
  nights re-check the LOOKBACK_DAYS environment variable's days (the deploy setting, default 3).

Executions are named `hist-retail-YYYY-MM-DD` (a day) or `hist-retail-YYYY-MM-DD-to-YYYY-MM-DD`
(a range), so a second trigger for the same days finds the name taken and starts nothing new
(Step Functions keeps a name for 90 days); it reports the existing execution as "already
running", "already succeeded", ... A rerun adds a suffix. Dates are validated as the jobs
validate them; a bad one starts nothing. The state machine's ARN comes from the
STATE_MACHINE_ARN environment variable.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from retail_etl.errors import ArgumentError
from retail_etl.params import MAX_RANGE_DAYS, DayRange, parse_extract_date, parse_lookback

# Seoul is UTC+9 all year (no daylight saving since 1988): a fixed offset, so the Lambda needs
# no time-zone database, which some Lambda images do not ship.
SEOUL = timezone(timedelta(hours=9), "Asia/Seoul")
MAX_BACKFILL_DAYS = MAX_RANGE_DAYS
EXECUTION_PREFIX = "hist-retail-"


class TriggerError(ValueError):
    """The event asks for something this trigger will not start; nothing was started."""


def requested_days(event: dict[str, Any]) -> DayRange:
    """The business days an event asks for, validated."""
    if is_scheduled(event):
        fired = datetime.fromisoformat(str(event["time"]))  # Python 3.11 reads the trailing Z
        return DayRange.one(fired.astimezone(SEOUL).date() - timedelta(days=1))
    if "EXTRACT_DATE" in event and ("from" in event or "to" in event):
        raise TriggerError("give 'EXTRACT_DATE' (a day) or 'from' and 'to' (a range), not both")
    try:
        if "EXTRACT_DATE" in event:
            return DayRange.one(parse_extract_date(str(event["EXTRACT_DATE"])))
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
    days = DayRange(first, last)
    if len(days) > MAX_BACKFILL_DAYS:
        raise TriggerError(f"backfill of {len(days)} days is longer than {MAX_BACKFILL_DAYS}")
    return days


def is_scheduled(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def requested_lookback(event: dict[str, Any], setting: str | None) -> int:
    """The look-back an event asks for: the deploy setting (`LOOKBACK_DAYS`) on the schedule's
    nights, `"lookback"` (default 0) on a manual start; validated as the jobs validate it."""
    try:
        if is_scheduled(event):
            if setting is None:
                raise TriggerError("LOOKBACK_DAYS is not set")
            return parse_lookback(setting, "the LOOKBACK_DAYS setting")
        return parse_lookback(event.get("lookback", 0), "'lookback'")
    except ArgumentError as err:
        raise TriggerError(str(err)) from None


def chunks(days: DayRange) -> list[tuple[date, date]]:
    """The range cut at calendar-month boundaries: each chunk is at most 31 days, so the Glue
    jobs' timeout and workers are sized for a month, whatever the range."""
    found = []
    first = days.first
    while first <= days.last:
        next_month = (first.replace(day=1) + timedelta(days=32)).replace(day=1)
        last = min(days.last, next_month - timedelta(days=1))
        found.append((first, last))
        first = last + timedelta(days=1)
    return found


def execution_input(days: DayRange, lookback: int = 0) -> dict[str, Any]:
    """What the state machine is started with: a day, or a range and its chunks, and the
    look-back (text, as the jobs take their arguments)."""
    if len(days) == 1:
        return {"EXTRACT_DATE": days.first.isoformat(), "LOOKBACK_DAYS": str(lookback)}
    return {
        "EXTRACT_DATE_FROM": days.first.isoformat(),
        "EXTRACT_DATE_TO": days.last.isoformat(),
        "chunks": [[a.isoformat(), b.isoformat()] for a, b in chunks(days)],
        "LOOKBACK_DAYS": str(lookback),
    }


def execution_name(days: DayRange, rerun: bool) -> str:
    name = EXECUTION_PREFIX + (
        days.first.isoformat() if len(days) == 1 else f"{days.first}-to-{days.last}"
    )
    return f"{name}-rerun-{uuid.uuid4().hex[:8]}" if rerun else name


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def execution_status(client: Any, arn: str) -> str | None:
    """RUNNING, SUCCEEDED, FAILED, ... of an execution, or None when there is none."""
    try:
        return str(client.describe_execution(executionArn=arn)["status"])
    except client.exceptions.ExecutionDoesNotExist:
        return None


def start_execution(
    client: Any, state_machine_arn: str, days: DayRange, rerun: bool, lookback: int = 0
) -> dict[str, Any]:
    """Start one execution for `days`; days that already have their execution are reported,
    not rerun.

    The execution is looked up first: StartExecution with the name and input of a *running*
    execution succeeds and answers that execution, so its answer alone cannot tell "started"
    from "already running".
    """
    name = execution_name(days, rerun)
    arn = execution_arn(state_machine_arn, name)
    status = None if rerun else execution_status(client, arn)
    if status is None:
        try:
            arn = client.start_execution(
                stateMachineArn=state_machine_arn,
                name=name,
                input=json.dumps(execution_input(days, lookback)),
            )["executionArn"]
            outcome = "started"
        except client.exceptions.ExecutionAlreadyExists:  # started since we looked
            outcome = "already started"
    else:
        outcome = f"already {status.lower().replace('_', ' ')}"
    return {
        "days": str(days),
        "chunks": len(chunks(days)),
        "lookback": lookback,
        "executionArn": arn,
        "status": outcome,
    }


def handler(event: dict[str, Any], context: Any = None, client: Any = None) -> dict[str, Any]:
    """Lambda entry point. Raises TriggerError (a failed invocation) for a bad event."""
    state_machine_arn = os.environ.get("STATE_MACHINE_ARN")
    if not state_machine_arn:
        raise TriggerError("STATE_MACHINE_ARN is not set")
    days = requested_days(event)  # validated before any call to AWS
    lookback = requested_lookback(event, os.environ.get("LOOKBACK_DAYS"))
    if client is None:
        import boto3

        client = boto3.client("stepfunctions")
    return start_execution(
        client, state_machine_arn, days, rerun=bool(event.get("rerun")), lookback=lookback
    )
