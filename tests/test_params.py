"""Job arguments: what is accepted, and the one-line error for what is not."""

from __future__ import annotations

from datetime import date

import pytest

from retail_etl.errors import ArgumentError
from retail_etl.params import D2sParams, S2sParams, parse_extract_date


def test_a_real_day_in_iso_form_is_accepted() -> None:
    assert parse_extract_date("2015-01-05") == date(2015, 1, 5)
    assert parse_extract_date("2016-02-29") == date(2016, 2, 29)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2015-02-30", "not a real calendar date"),
        ("2015-02-29", "not a real calendar date"),
        ("2015-1-5", "not a date in YYYY-MM-DD form"),
        ("20150105", "not a date in YYYY-MM-DD form"),
        ("2015-01-05' OR '1'='1", "not a date in YYYY-MM-DD form"),
        ("2015-01-05\n", "not a date in YYYY-MM-DD form"),
        ("", "not a date in YYYY-MM-DD form"),
    ],
)
def test_a_bad_extract_date_is_named_with_its_value(value: str, reason: str) -> None:
    with pytest.raises(ArgumentError) as err:
        parse_extract_date(value)
    assert str(err.value) == f"--EXTRACT_DATE {value!r} is {reason}"


def test_d2s_arguments() -> None:
    params = D2sParams.from_argv(["--TARGET_DATA", "sales", "--EXTRACT_DATE", "2015-01-05"])
    assert (params.target, params.days.days, params.source_secret_id) == (
        "sales", [date(2015, 1, 5)], None,
    )  # fmt: skip
    assert params.source_max_connections == 4  # the README's default
    on_glue = D2sParams.from_argv(
        ["--JOB_NAME", "jb", "--TARGET_DATA", "balju", "--EXTRACT_DATE", "2015-01-05",
         "--SOURCE_SECRET_ID", "hist-retail/source", "--LAKE_ROOT", "s3://b"]
    )  # fmt: skip
    assert on_glue.source_secret_id == "hist-retail/source"
    assert on_glue.lake_root == "s3://b"
    assert on_glue.glue_args["JOB_NAME"] == "jb"


def test_unknown_target_is_named() -> None:
    with pytest.raises(ArgumentError, match=r"--TARGET_DATA 'orders' is not one of: balju, sales"):
        D2sParams.from_argv(["--TARGET_DATA", "orders", "--EXTRACT_DATE", "2015-01-05"])


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["--TARGET_DATA", "balju"], "give --EXTRACT_DATE YYYY-MM-DD, or --EXTRACT_DATE_FROM"),
        (["--EXTRACT_DATE", "2015-01-05"], "required: .*--TARGET_DATA"),
    ],
)
def test_missing_argument_is_named(argv: list[str], missing: str) -> None:
    with pytest.raises(ArgumentError, match=missing):
        D2sParams.from_argv(argv)


def test_s2s_needs_only_the_date() -> None:
    plain = S2sParams.from_argv(["--EXTRACT_DATE", "2015-01-31"])
    assert (plain.day, plain.lake_root) == ("2015-01-31", None)
    on_glue = S2sParams.from_argv(
        ["--JOB_NAME", "jb", "--EXTRACT_DATE", "2015-01-31", "--LAKE_ROOT", "s3://b"]
    )
    assert (on_glue.lake_root, on_glue.glue_args["JOB_NAME"]) == ("s3://b", "jb")
    with pytest.raises(ArgumentError, match="give --EXTRACT_DATE YYYY-MM-DD"):
        S2sParams.from_argv([])


def test_glues_own_arguments_pass_on_glue_and_are_refused_elsewhere() -> None:
    on_glue = [
        "--EXTRACT_DATE", "2015-01-05", "--JOB_RUN_ID", "jr_1", "--TempDir", "s3://t",
        "--job-bookmark-option", "job-bookmark-disable", "--enable-metrics", "true",
    ]  # fmt: skip
    assert S2sParams.from_argv(on_glue).day == "2015-01-05"
    with pytest.raises(ArgumentError, match="'--TempDir' is not an argument of this job"):
        S2sParams.from_argv(["--EXTRACT_DATE", "2015-01-05", "--TempDir", "s3://t"])


def test_a_range_is_inclusive_and_may_be_one_day_or_a_leap_year() -> None:
    month = S2sParams.from_argv(
        ["--EXTRACT_DATE_FROM", "2015-01-01", "--EXTRACT_DATE_TO", "2015-01-31"]
    )
    assert (month.days.first, month.days.last, len(month.days.days)) == (
        date(2015, 1, 1), date(2015, 1, 31), 31,
    )  # fmt: skip
    assert month.day == "2015-01-01..2015-01-31"
    one = S2sParams.from_argv(
        ["--EXTRACT_DATE_FROM", "2015-01-05", "--EXTRACT_DATE_TO", "2015-01-05"]
    )
    assert one.days.days == [date(2015, 1, 5)]
    leap = S2sParams.from_argv(
        ["--EXTRACT_DATE_FROM", "2016-01-01", "--EXTRACT_DATE_TO", "2016-12-31"]
    )
    assert len(leap.days.days) == 366


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--EXTRACT_DATE_FROM", "2015-02-01", "--EXTRACT_DATE_TO", "2015-01-31"],
         "--EXTRACT_DATE_FROM '2015-02-01' is after --EXTRACT_DATE_TO '2015-01-31'"),
        (["--EXTRACT_DATE_FROM", "2015-01-01", "--EXTRACT_DATE_TO", "2016-01-02"],
         "--EXTRACT_DATE_FROM '2015-01-01' --EXTRACT_DATE_TO '2016-01-02' is 367 days: "
         "a run takes at most 366"),
        (["--EXTRACT_DATE_FROM", "2015-01-01"],
         "--EXTRACT_DATE_FROM '2015-01-01' is given without --EXTRACT_DATE_TO"),
        (["--EXTRACT_DATE_TO", "2015-01-31"],
         "--EXTRACT_DATE_TO '2015-01-31' is given without --EXTRACT_DATE_FROM"),
        (["--EXTRACT_DATE", "2015-01-05", "--EXTRACT_DATE_FROM", "2015-01-01",
          "--EXTRACT_DATE_TO", "2015-01-31"],
         "--EXTRACT_DATE '2015-01-05' is given with --EXTRACT_DATE_FROM: give one day or a range"),
        (["--EXTRACT_DATE_FROM", "2015-02-30", "--EXTRACT_DATE_TO", "2015-03-31"],
         "--EXTRACT_DATE_FROM '2015-02-30' is not a real calendar date"),
        (["--EXTRACT_DATE_FROM", "2015-01-01", "--EXTRACT_DATE_TO", "2015/01/31"],
         "--EXTRACT_DATE_TO '2015/01/31' is not a date in YYYY-MM-DD form"),
        (["--EXTRACT_DATE_FROM", "2015-01-01", "--EXTRACT_DATE_TO", "9999-12-31"],
         "--EXTRACT_DATE_TO '9999-12-31' is out of range: the last business day is 9999-12-30"),
    ],
    ids=["reversed", "367-days", "no-end", "no-start", "mixed", "not-real", "not-iso", "too-late"],
)  # fmt: skip
def test_a_bad_range_is_one_line_naming_the_value(argv: list[str], line: str) -> None:
    for parse, extra in (
        (S2sParams.from_argv, []),
        (D2sParams.from_argv, ["--TARGET_DATA", "sales"]),
    ):
        with pytest.raises(ArgumentError) as err:
            parse([*extra, *argv])
        assert str(err.value) == line


@pytest.mark.parametrize("value", ["0", "33", "four", "-1", "2.5"])
def test_source_max_connections_is_a_small_whole_number(value: str) -> None:
    argv = ["--TARGET_DATA", "sales", "--EXTRACT_DATE", "2015-01-05"]
    assert D2sParams.from_argv([*argv, "--SOURCE_MAX_CONNECTIONS", "8"]).source_max_connections == 8
    with pytest.raises(ArgumentError, match=rf"--SOURCE_MAX_CONNECTIONS '{value}' is not a whole"):
        D2sParams.from_argv([*argv, "--SOURCE_MAX_CONNECTIONS", value])


def test_every_job_takes_a_look_back_of_0_to_62_days_before_its_first_day() -> None:
    day = ["--EXTRACT_DATE", "2015-01-05"]
    assert S2sParams.from_argv(day).lookback_days == 0  # days given explicitly: none
    params = D2sParams.from_argv(["--TARGET_DATA", "sales", *day, "--LOOKBACK_DAYS", "3"])
    assert params.window == [date(2015, 1, 2), date(2015, 1, 3), date(2015, 1, 4)]
    ranged = S2sParams.from_argv(
        ["--EXTRACT_DATE_FROM", "2015-03-01", "--EXTRACT_DATE_TO", "2015-03-31",
         "--LOOKBACK_DAYS", "62"]
    )  # fmt: skip
    assert (ranged.window[0], ranged.window[-1]) == (date(2014, 12, 29), date(2015, 2, 28))


@pytest.mark.parametrize("value", ["-1", "63", "1.5", "three", "+3", "٣"])
def test_a_bad_look_back_is_one_line_naming_the_value(value: str) -> None:
    with pytest.raises(ArgumentError) as err:
        S2sParams.from_argv(["--EXTRACT_DATE", "2015-01-05", "--LOOKBACK_DAYS", value])
    assert str(err.value) == (
        f"--LOOKBACK_DAYS {value!r} is not a whole number of days from 0 to 62"
    )
