"""The Lambda trigger against a moto state machine."""

from __future__ import annotations

import json
import re
from datetime import date

import boto3
import pytest
from iam_check import calls_checked_as
from moto import mock_aws

from orchestration import resources as r
from orchestration import statemachine, trigger
from retail_etl.params import DayRange


@pytest.fixture
def sfn(aws_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # every call the trigger makes here is checked against its role (tests/iam_check.py)
    with mock_aws(), calls_checked_as(monkeypatch, "TriggerRole", {"Prefix": "test"}):
        client = boto3.client("stepfunctions")
        arn = client.create_state_machine(
            name=r.state_machine_name("test"),
            definition=statemachine.ASL_PATH.read_text(),
            roleArn="arn:aws:iam::123456789012:role/test",
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        monkeypatch.setenv("LOOKBACK_DAYS", "3")  # as the template sets it: the default
        yield client


def inputs(client) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    arn = trigger.os.environ["STATE_MACHINE_ARN"]
    found = client.list_executions(stateMachineArn=arn)["executions"]
    return {
        e["name"]: json.loads(client.describe_execution(executionArn=e["executionArn"])["input"])
        for e in found
    }


def executions(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Execution name -> the day it was started for (one-day executions)."""
    return {name: str(given["EXTRACT_DATE"]) for name, given in inputs(client).items()}


def scheduled(time: str) -> dict[str, object]:
    return {"source": "aws.events", "detail-type": "Scheduled Event", "time": time, "detail": {}}


@pytest.mark.parametrize(
    ("fired_utc", "expected"),
    [
        ("2015-01-05T16:00:00Z", "2015-01-05"),  # the default schedule: 01:00 KST on the 6th
        (
            "2015-01-05T14:59:59Z",
            "2015-01-04",
        ),  # 23:59:59 KST on the 5th: the day before is the 4th
        ("2015-01-05T15:00:00Z", "2015-01-05"),  # midnight KST: the 6th has begun in Seoul
        ("2015-01-01T03:00:00Z", "2014-12-31"),  # across a year boundary
    ],
)
def test_scheduled_run_takes_the_day_before_in_seoul(sfn, fired_utc: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    result = trigger.handler(scheduled(fired_utc))
    assert (result["days"], result["chunks"]) == (expected, 1)
    assert executions(sfn) == {f"hist-retail-{expected}": expected}


def test_manual_run_for_a_date(sfn) -> None:  # type: ignore[no-untyped-def]
    started = trigger.handler({"EXTRACT_DATE": "2015-01-05"})
    assert started["status"] == "started"
    assert started["executionArn"].endswith(":hist-retail-2015-01-05")
    assert executions(sfn) == {"hist-retail-2015-01-05": "2015-01-05"}


def test_a_backfill_is_one_execution_with_its_calendar_months_as_chunks(sfn) -> None:  # type: ignore[no-untyped-def]
    started = trigger.handler({"from": "2015-01-30", "to": "2015-03-02"})

    assert (started["status"], started["days"], started["chunks"]) == (
        "started", "2015-01-30..2015-03-02", 3,
    )  # fmt: skip
    assert inputs(sfn) == {
        "hist-retail-2015-01-30-to-2015-03-02": {
            "EXTRACT_DATE_FROM": "2015-01-30",
            "EXTRACT_DATE_TO": "2015-03-02",
            "chunks": [
                ["2015-01-30", "2015-01-31"],
                ["2015-02-01", "2015-02-28"],
                ["2015-03-01", "2015-03-02"],
            ],
            "LOOKBACK_DAYS": "0",  # a manual start: the days asked for alone
        }
    }
    again = trigger.handler({"from": "2015-01-30", "to": "2015-03-02"})
    assert again["status"] == "already running" and len(inputs(sfn)) == 1
    # a backfill of one day is that day's execution
    assert trigger.handler({"from": "2015-01-05", "to": "2015-01-05"})["executionArn"].endswith(
        ":hist-retail-2015-01-05"
    )


def test_a_leap_year_is_twelve_chunks_that_cover_it_exactly() -> None:
    days = trigger.requested_days({"from": "2016-01-01", "to": "2016-12-31"})
    found = trigger.chunks(days)
    assert len(found) == 12
    assert found[1] == (date(2016, 2, 1), date(2016, 2, 29))
    covered = [d for first, last in found for d in DayRange(first, last).days]
    assert covered == days.days and len(covered) == 366


def test_a_second_trigger_during_the_run_says_already_running(sfn) -> None:  # type: ignore[no-untyped-def]
    # StartExecution with the name and input of a running execution succeeds and answers that
    # execution (moto does as AWS here): the answer alone would read as "started".
    first = trigger.handler({"EXTRACT_DATE": "2015-01-05"})
    again = trigger.handler({"EXTRACT_DATE": "2015-01-05"})
    assert first["status"] == "started"
    assert (again["status"], again["executionArn"]) == ("already running", first["executionArn"])
    assert len(executions(sfn)) == 1


def test_a_trigger_after_the_run_ended_reports_how_it_ended(sfn) -> None:  # type: ignore[no-untyped-def]
    first = trigger.handler({"EXTRACT_DATE": "2015-01-05"})
    sfn.stop_execution(executionArn=first["executionArn"])
    again = trigger.handler({"EXTRACT_DATE": "2015-01-05"})
    assert again["status"] == "already aborted"
    assert len(executions(sfn)) == 1


def test_rerun_flag_starts_a_new_execution(sfn) -> None:  # type: ignore[no-untyped-def]
    trigger.handler({"EXTRACT_DATE": "2015-01-05"})
    rerun = trigger.handler({"EXTRACT_DATE": "2015-01-05", "rerun": True})
    assert re.fullmatch(
        r"hist-retail-2015-01-05-rerun-[0-9a-f]{8}", rerun["executionArn"].split(":")[-1]
    )
    assert sorted(executions(sfn).values()) == ["2015-01-05", "2015-01-05"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"EXTRACT_DATE": "2015-02-30"}, "date '2015-02-30' is not a real calendar date"),
        ({"EXTRACT_DATE": "2015-1-5"}, "date '2015-1-5' is not a date in YYYY-MM-DD form"),
        (
            {"EXTRACT_DATE": "2015-01-05' OR '1'='1"},
            """date "2015-01-05' OR '1'='1" is not a date in YYYY-MM-DD form""",
        ),
        ({"from": "2015-01-05"}, "a backfill needs both 'from' and 'to'"),
        ({"to": "2015-01-05"}, "a backfill needs both 'from' and 'to'"),
        # EventBridge events that are not the schedule's
        ({"source": "aws.events", "time": "2015-01-05T16:00:00Z"}, "expected "),
        ({"detail-type": "Scheduled Event", "time": "2015-01-05T16:00:00Z"}, "expected "),
        ({"from": "2015-01-05", "to": "2015-01-32"}, "date '2015-01-32' is not a real calendar"),
        (
            {"from": "2015-01-06", "to": "2015-01-05"},
            "backfill 'from' 2015-01-06 is after 'to' 2015-01-05",
        ),
        ({"from": "2014-01-01", "to": "2015-12-31"}, "backfill of 730 days is longer than 366"),
        (
            {"EXTRACT_DATE": "2015-01-05", "from": "2015-01-01", "to": "2015-01-31"},
            "give 'EXTRACT_DATE' (a day) or 'from' and 'to' (a range), not both",
        ),
        (
            {"date": "2015-01-05"},
            'expected {"EXTRACT_DATE": "YYYY-MM-DD"}, {"from": ..., "to": ...} or a scheduled '
            "event",
        ),
    ],
)
def test_bad_dates_start_nothing(sfn, event: dict[str, object], message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(trigger.TriggerError) as refused:
        trigger.handler(event)
    assert str(refused.value).startswith(message)
    assert executions(sfn) == {}


def test_state_machine_arn_comes_from_the_environment(sfn, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("STATE_MACHINE_ARN")
    with pytest.raises(trigger.TriggerError, match=r"^STATE_MACHINE_ARN is not set$"):
        trigger.handler({"EXTRACT_DATE": "2015-01-05"})


def test_a_backfill_of_one_day_and_of_exactly_366_days_is_accepted() -> None:
    one = trigger.requested_days({"from": "2015-01-05", "to": "2015-01-05"})
    assert one.days == [date(2015, 1, 5)]
    leap_year = trigger.requested_days({"from": "2016-01-01", "to": "2016-12-31"}).days
    assert (len(leap_year), leap_year[0], leap_year[-1]) == (
        366, date(2016, 1, 1), date(2016, 12, 31),
    )  # fmt: skip
    with pytest.raises(trigger.TriggerError, match=r"^backfill of 367 days is longer than 366$"):
        trigger.requested_days({"from": "2016-01-01", "to": "2017-01-01"})


class ClosedExecutions:
    """A Step Functions client whose executions all ended with `status`."""

    class exceptions:
        class ExecutionDoesNotExist(Exception):
            pass

        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self, status: str | None, already_exists: bool = False) -> None:
        self.status, self.already_exists = status, already_exists

    def describe_execution(self, executionArn: str) -> dict[str, str]:
        if self.status is None:
            raise self.exceptions.ExecutionDoesNotExist(executionArn)
        return {"status": self.status}

    def start_execution(self, **kwargs: str) -> dict[str, str]:
        if self.already_exists:
            raise self.exceptions.ExecutionAlreadyExists(kwargs["name"])
        return {"executionArn": "arn:aws:states:r:1:execution:m:" + kwargs["name"]}


DAY_5 = DayRange.one(date(2015, 1, 5))
ARN = "arn:aws:states:ap-northeast-2:123456789012:stateMachine:test_hist_retail_dailybatch"


@pytest.mark.parametrize(
    ("status", "said"),
    [("TIMED_OUT", "already timed out"), ("SUCCEEDED", "already succeeded")],
)
def test_an_ended_execution_is_reported_in_words(status: str, said: str) -> None:
    started = trigger.start_execution(ClosedExecutions(status), ARN, DAY_5, False)
    assert started["status"] == said


def test_an_execution_started_between_the_look_and_the_start_is_already_started() -> None:
    client = ClosedExecutions(None, already_exists=True)
    started = trigger.start_execution(client, ARN, DAY_5, False)
    assert started == {
        "days": "2015-01-05",
        "chunks": 1,
        "lookback": 0,
        "executionArn": ARN.replace(":stateMachine:", ":execution:") + ":hist-retail-2015-01-05",
        "status": "already started",
    }


def test_the_schedules_nights_carry_the_deploy_settings_look_back(sfn, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    trigger.handler(scheduled("2015-01-05T16:00:00Z"))
    monkeypatch.setenv("LOOKBACK_DAYS", "7")
    trigger.handler(scheduled("2015-01-06T16:00:00Z"))

    assert inputs(sfn) == {
        "hist-retail-2015-01-05": {"EXTRACT_DATE": "2015-01-05", "LOOKBACK_DAYS": "3"},
        "hist-retail-2015-01-06": {"EXTRACT_DATE": "2015-01-06", "LOOKBACK_DAYS": "7"},
    }


def test_a_manual_day_is_that_day_alone_unless_it_asks_for_a_look_back(sfn) -> None:  # type: ignore[no-untyped-def]
    assert trigger.handler({"EXTRACT_DATE": "2015-01-05"})["lookback"] == 0
    assert trigger.handler({"EXTRACT_DATE": "2015-01-06", "lookback": 2})["lookback"] == 2
    trigger.handler({"from": "2015-01-10", "to": "2015-01-11", "lookback": "1"})

    given = inputs(sfn)
    assert given["hist-retail-2015-01-05"]["LOOKBACK_DAYS"] == "0"
    assert given["hist-retail-2015-01-06"]["LOOKBACK_DAYS"] == "2"
    assert given["hist-retail-2015-01-10-to-2015-01-11"]["LOOKBACK_DAYS"] == "1"


@pytest.mark.parametrize(
    ("lookback", "named"),
    [(-1, "-1"), (63, "63"), (1.5, "1.5"), ("two", "'two'"), (True, "True"), ("", "''")],
)
def test_a_bad_look_back_starts_nothing_and_is_named(sfn, lookback, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(trigger.TriggerError) as refused:
        trigger.handler({"EXTRACT_DATE": "2015-01-05", "lookback": lookback})
    assert str(refused.value) == (f"'lookback' {named} is not a whole number of days from 0 to 62")
    assert executions(sfn) == {}


@pytest.mark.parametrize("setting", ["-3", "100", "3 days"])
def test_a_bad_deploy_setting_fails_the_scheduled_night_naming_it(
    sfn, monkeypatch, setting
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOOKBACK_DAYS", setting)
    with pytest.raises(trigger.TriggerError, match=f"the LOOKBACK_DAYS setting '{setting}' is not"):
        trigger.handler(scheduled("2015-01-05T16:00:00Z"))
    assert executions(sfn) == {}
