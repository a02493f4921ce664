"""IAM's evaluation of identity-based policies, for the rehearsal's recorded calls.

What AWS documents ("Policy evaluation logic", "IAM JSON policy elements"), for one principal in
one account with no resource policy, permissions boundary, session policy or SCP:
an explicit Deny in any statement wins; otherwise an Allow that matches allows; otherwise the
request is implicitly denied. A statement matches when its Action (or NotAction), its Resource
(or NotResource) and every one of its Conditions match. Actions compare without regard to case,
resources with it; `*` and `?` are wildcards in both. Within a Condition, operators and keys are
ANDed and a key's values ORed; a key absent from the request makes a positive operator false
and a negated one (`StringNotEquals`, `StringNotLike`, `ArnNotLike`, ...) true, and `...IfExists`
makes an absent key true.

moto checks IAM only when asked (INITIAL_NO_AUTH_ACTION_COUNT), and then compares Glue,
Secrets Manager, Step Functions and Lambda calls against the resource `*` and ignores
Conditions, so it would pass a role that lacks a table's ARN or a prefix condition: this module
is what the rehearsal relies on instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Statement = Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """One IAM request: what AWS authorizes for (part of) an API call."""

    action: str  # service:Action, e.g. s3:GetObject
    resource: str  # an ARN, or "*" for actions that take none
    context: Mapping[str, str] = field(default_factory=dict)  # e.g. {"s3:prefix": "factdata/"}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    statement: str | None  # the Sid of the statement that decided (None: no statement matched)

    def __bool__(self) -> bool:
        return self.allowed


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    """IAM's `*` (any run of characters, `/` and `:` included) and `?` (one character)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    flags = re.IGNORECASE if ignore_case else 0
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def _action_matches(statement: Statement, action: str) -> bool:
    if "Action" in statement:
        return any(_wildcard(p, action, True) for p in _as_list(statement["Action"]))
    return not any(_wildcard(p, action, True) for p in _as_list(statement["NotAction"]))


def _resource_matches(statement: Statement, resource: str) -> bool:
    if "Resource" in statement:
        return any(_wildcard(p, resource, False) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(_wildcard(p, resource, False) for p in _as_list(statement["NotResource"]))
    return False  # a statement without either is invalid and matches nothing


def _compare(operator: str, wanted: str, given: str) -> bool:
    base = operator.removesuffix("IfExists")
    if base in ("StringEquals", "StringNotEquals"):
        return given == wanted
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return given.lower() == wanted.lower()
    # ArnEquals and ArnLike both take wildcards (IAM condition operators reference)
    if base in (
        "StringLike",
        "StringNotLike",
        "ArnLike",
        "ArnNotLike",
        "ArnEquals",
        "ArnNotEquals",
    ):
        return _wildcard(wanted, given, False)
    if base == "Bool":
        return given.lower() == str(wanted).lower()
    raise ValueError(f"condition operator {operator} is not evaluated here")


def _negated(operator: str) -> bool:
    return "Not" in operator.removesuffix("IfExists")


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str]) -> bool:
    qualifier, _, operator = operator.rpartition(":")  # ForAnyValue:StringLike -> StringLike
    present = {k.lower(): v for k, v in context.items()}
    if key.lower() not in present:
        return operator.endswith("IfExists") or _negated(operator)
    given = _as_list(present[key.lower()])
    wanted_values = [str(w) for w in _as_list(wanted)]

    def one(value: str) -> bool:
        hit = any(_compare(operator, w, str(value)) for w in wanted_values)
        return not hit if _negated(operator) else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in given)
    return any(one(v) for v in given)  # single-valued keys, and ForAnyValue


def _conditions_hold(statement: Statement, context: Mapping[str, str]) -> bool:
    return all(
        _condition_holds(operator, key, wanted, context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, wanted in keys.items()
    )


def matches(statement: Statement, request: Request) -> bool:
    return (
        _action_matches(statement, request.action)
        and _resource_matches(statement, request.resource)
        and _conditions_hold(statement, request.context)
    )


def evaluate(statements: Iterable[Statement], request: Request) -> Decision:
    """Deny beats Allow, Allow beats the implicit deny."""
    allowed_by = None
    for statement in statements:
        if not matches(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return Decision(False, statement.get("Sid", "(a Deny without a Sid)"))
        allowed_by = allowed_by or statement.get("Sid", "(an Allow without a Sid)")
    return Decision(allowed_by is not None, allowed_by)


def statements_of(policies: Sequence[Mapping[str, Any]]) -> list[Statement]:
    """Every statement of a role's inline policies (`PolicyDocument.Statement`)."""
    return [s for p in policies for s in _as_list(p["PolicyDocument"]["Statement"])]
