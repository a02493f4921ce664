"""The moto tests' AWS calls, checked against the role that makes them in AWS.

moto does not evaluate IAM (see orchestration/rehearsal/policy.py), so a test that runs the
project's code against moto records, through botocore, every call that code makes (calls the
test itself makes to set moto up are not the project's and are left out), and at its end each
call's IAM requests are evaluated against the statements of the role that would make it, as
the template resolves them for the test's names. A denied call fails the test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

from orchestration import template
from orchestration.rehearsal.authorization import Account, Call
from orchestration.rehearsal.night import check
from orchestration.rehearsal.stack import ResolvedStack

REPO = Path(__file__).resolve().parents[1]
PROJECT = (str(REPO / "retail_etl"), str(REPO / "orchestration"))
ACCOUNT = Account("123456789012", "ap-northeast-2")  # moto's default account, the suite's region


def _made_by_project() -> bool:
    """Whether the nearest caller outside boto3/botocore is the project's own code."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if "/botocore/" not in path and "/boto3/" not in path:
            return path.startswith(PROJECT) and "/rehearsal/" not in path
        frame = frame.f_back  # type: ignore[assignment]
    return False


@contextmanager
def calls_checked_as(
    monkeypatch: pytest.MonkeyPatch, role: str, parameters: Mapping[str, str]
) -> Iterator[list[Call]]:
    """Record the project's calls in the block; then check them as `role` (a logical id)."""
    calls: list[Call] = []
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if _made_by_project():
            service = self.meta.service_model.signing_name
            calls.append(Call(role, service, operation, params))
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    yield calls
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    stack = ResolvedStack(ACCOUNT, {"LakeBucket": "lake", **parameters}, template.template())
    denials = check(calls, {role: stack.role_statements(role)})
    assert not denials, "\n".join(sorted({str(d) for d in denials}))
