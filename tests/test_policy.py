"""The rehearsal's policy evaluator against IAM's documented evaluation logic."""

from __future__ import annotations

import pytest

from orchestration.rehearsal.policy import Request, evaluate

BUCKET = "arn:aws:s3:::lake"


def allow(**statement: object) -> dict[str, object]:
    return {"Sid": "A", "Effect": "Allow", **statement}


def test_nothing_allowed_is_implicitly_denied() -> None:
    decision = evaluate([], Request("s3:GetObject", f"{BUCKET}/k"))
    assert not decision and decision.statement is None


def test_an_explicit_deny_beats_any_allow() -> None:
    statements = [
        allow(Action="s3:*", Resource="*"),
        {"Sid": "D", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"},
    ]
    decision = evaluate(statements, Request("s3:DeleteObject", f"{BUCKET}/factdata/x"))
    assert (decision.allowed, decision.statement) == (False, "D")
    assert evaluate(statements, Request("s3:GetObject", f"{BUCKET}/factdata/x"))


def test_actions_ignore_case_and_take_wildcards_resources_keep_case() -> None:
    statements = [allow(Action=["S3:get*"], Resource=[f"{BUCKET}/factdata*"])]
    assert evaluate(statements, Request("s3:GetObject", f"{BUCKET}/factdata/a/b"))
    assert evaluate(statements, Request("s3:GetObject", f"{BUCKET}/factdata_$folder$"))
    assert not evaluate(statements, Request("s3:PutObject", f"{BUCKET}/factdata/a"))
    assert not evaluate(statements, Request("s3:GetObject", f"{BUCKET}/Factdata/a"))
    assert not evaluate(statements, Request("s3:GetObject", f"{BUCKET}/silver/a"))


def test_question_mark_is_one_character() -> None:
    statements = [allow(Action="glue:GetTable", Resource="arn:aws:glue:r:1:table/db/t?")]
    assert evaluate(statements, Request("glue:GetTable", "arn:aws:glue:r:1:table/db/t1"))
    assert not evaluate(statements, Request("glue:GetTable", "arn:aws:glue:r:1:table/db/t12"))


def test_not_action_and_not_resource() -> None:
    statements = [allow(NotAction=["s3:DeleteObject"], NotResource=[f"{BUCKET}/_private/*"])]
    assert evaluate(statements, Request("s3:GetObject", f"{BUCKET}/factdata/x"))
    assert not evaluate(statements, Request("s3:DeleteObject", f"{BUCKET}/factdata/x"))
    assert not evaluate(statements, Request("s3:GetObject", f"{BUCKET}/_private/x"))


def test_a_condition_on_a_key_the_request_lacks_does_not_match() -> None:
    statements = [
        allow(
            Action="s3:ListBucket",
            Resource=BUCKET,
            Condition={"StringLike": {"s3:prefix": ["factdata*", "silver*"]}},
        )
    ]
    listing = Request("s3:ListBucket", BUCKET, {"s3:prefix": "silver/dailybalju/"})
    assert evaluate(statements, listing)
    assert not evaluate(statements, Request("s3:ListBucket", BUCKET, {"s3:prefix": "_x/"}))
    assert not evaluate(statements, Request("s3:ListBucket", BUCKET))  # no prefix at all


def test_negated_operators_match_an_absent_key_and_if_exists_too() -> None:
    negated = [allow(Action="*", Resource="*", Condition={"StringNotEquals": {"aws:k": "x"}})]
    assert evaluate(negated, Request("s3:GetObject", "*"))
    assert not evaluate(negated, Request("s3:GetObject", "*", {"aws:k": "x"}))
    if_exists = [allow(Action="*", Resource="*", Condition={"StringEqualsIfExists": {"k": "x"}})]
    assert evaluate(if_exists, Request("s3:GetObject", "*"))
    assert not evaluate(if_exists, Request("s3:GetObject", "*", {"k": "y"}))


def test_operators_and_keys_are_anded_values_ored() -> None:
    statements = [
        allow(
            Action="*",
            Resource="*",
            Condition={
                "StringEquals": {"a": ["1", "2"], "b": "3"},
                "Bool": {"aws:SecureTransport": "true"},
            },
        )
    ]
    assert evaluate(
        statements, Request("x:Y", "*", {"a": "2", "b": "3", "aws:SecureTransport": "true"})
    )
    assert not evaluate(
        statements, Request("x:Y", "*", {"a": "2", "b": "4", "aws:SecureTransport": "true"})
    )
    assert not evaluate(
        statements, Request("x:Y", "*", {"a": "2", "b": "3", "aws:SecureTransport": "false"})
    )


def test_condition_keys_compare_without_case_values_with_it() -> None:
    statements = [allow(Action="*", Resource="*", Condition={"StringEquals": {"S3:Prefix": "a/"}})]
    assert evaluate(statements, Request("s3:ListBucket", "*", {"s3:prefix": "a/"}))
    assert not evaluate(statements, Request("s3:ListBucket", "*", {"s3:prefix": "A/"}))


def test_arn_like_takes_wildcards() -> None:
    statements = [
        allow(
            Action="*",
            Resource="*",
            Condition={"ArnLike": {"aws:SourceArn": "arn:aws:states:*:1:*"}},
        )
    ]
    assert evaluate(statements, Request("x:Y", "*", {"aws:SourceArn": "arn:aws:states:r:1:m"}))
    assert not evaluate(statements, Request("x:Y", "*", {"aws:SourceArn": "arn:aws:states:r:2:m"}))


def test_an_operator_it_does_not_know_is_refused_not_guessed() -> None:
    statements = [allow(Action="*", Resource="*", Condition={"IpAddress": {"aws:SourceIp": "1"}})]
    with pytest.raises(ValueError, match="IpAddress"):
        evaluate(statements, Request("x:Y", "*", {"aws:SourceIp": "1"}))
