"""A test-only guard: moto refuses what AWS refuses, where moto alone would accept it.

Each check states AWS's documented limit and where it is documented; `install` applies them all
with pytest's monkeypatch for one test. Where moto already enforces a limit (execution and state
machine names over 80 characters, buckets under 3 or over 63 characters), it is left to moto.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from moto.awslambda.models import LambdaBackend
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError as CfnValidationError
from moto.core.exceptions import JsonRESTError
from moto.glue.exceptions import InvalidInputException
from moto.glue.models import GlueBackend
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.iam.exceptions import ValidationError as IamValidationError
from moto.iam.models import IAMBackend
from moto.s3.exceptions import InvalidBucketName
from moto.s3.models import S3Backend
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

# CloudFormation quotas: a template body passed in the request, 51,200 bytes; a template read
# from S3 (TemplateURL), 1 MB; the URL itself, 1,024 characters.
TEMPLATE_BODY_MAX = 51_200
TEMPLATE_URL_OBJECT_MAX = 1_000_000
TEMPLATE_URL_MAX = 1_024
# Step Functions quotas: a state machine definition, 1 MB (hard quota); a state's name,
# 1-80 characters (StateEnteredEventDetails); an execution's input, 256 KiB.
DEFINITION_MAX = 1_048_576
STATE_NAME_MAX = 80
EXECUTION_INPUT_MAX = 262_144
# Glue: BatchDeletePartition takes at most 25 partitions, BatchCreatePartition and
# BatchUpdatePartition 100, BatchGetPartition 1,000.
GLUE_BATCH_DELETE_MAX = 25
GLUE_BATCH_CREATE_MAX = 100
GLUE_BATCH_UPDATE_MAX = 100
GLUE_BATCH_GET_MAX = 1000
# IAM: a role name is 1-64 characters of [\w+=,.@-] (CreateRole).
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
# Lambda: a function name is 1-64 characters of [a-zA-Z0-9-_] (CreateFunction).
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def bucket_name_refusal(name: str) -> str | None:
    """Why S3's general purpose bucket naming rules refuse `name` (None: they accept it)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
        return "3-63 characters of a-z 0-9 . -, beginning and ending with a letter or digit"
    if ".." in name:
        return "two adjacent periods"
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        return "formatted as an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"reserved prefix {prefix}"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"reserved suffix {suffix}"
    return None


def state_names(definition: dict[str, Any]) -> list[str]:
    names = []
    for name, state in definition.get("States", {}).items():
        names.append(name)
        for branch in state.get("Branches", []):
            names += state_names(branch)
        if "ItemProcessor" in state or "Iterator" in state:
            names += state_names(state.get("ItemProcessor") or state["Iterator"])
    return names


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    _guard_cloudformation(monkeypatch)
    _requests_come_over_tls(monkeypatch)
    _log_groups_update_in_place(monkeypatch)
    _guard(monkeypatch, S3Backend, "create_bucket", _check_bucket)
    _guard(monkeypatch, IAMBackend, "create_role", _check_role)
    _guard(monkeypatch, LambdaBackend, "create_function", _check_function)
    _guard(monkeypatch, GlueBackend, "batch_delete_partition", _check_partitions_to_delete)
    _guard(monkeypatch, GlueBackend, "batch_create_partition", _check_partitions_to_create)
    _guard(monkeypatch, GlueBackend, "batch_update_partition", _check_partitions_to_update)
    _guard(monkeypatch, GlueBackend, "batch_get_partition", _check_partitions_to_get)
    for backend in (StepFunctionBackend, StepFunctionsParserBackend):  # the second executes
        _guard(monkeypatch, backend, "create_state_machine", _check_state_machine)
        _guard(monkeypatch, backend, "start_execution", _check_execution)


def _guard(monkeypatch: pytest.MonkeyPatch, cls: type, method: str, check: Any) -> None:
    original = getattr(cls, method)

    def guarded(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        check(*args, **kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, guarded)


def _check_bucket(bucket_name: str, *args: Any, **kwargs: Any) -> None:
    if bucket_name_refusal(bucket_name):
        raise InvalidBucketName()


def _check_partitions_to_delete(database_name: str, table_name: str, parts: list[Any]) -> None:
    if len(parts) > GLUE_BATCH_DELETE_MAX:
        raise InvalidInputException("BatchDeletePartition", "over 25 partitions to delete")


def _check_partitions_to_create(
    database_name: str, table_name: str, partition_input: list[Any]
) -> None:
    if len(partition_input) > GLUE_BATCH_CREATE_MAX:
        raise InvalidInputException("BatchCreatePartition", "over 100 partitions to create")


def _check_partitions_to_update(database_name: str, table_name: str, entries: list[Any]) -> None:
    if len(entries) > GLUE_BATCH_UPDATE_MAX:
        raise InvalidInputException("BatchUpdatePartition", "over 100 partitions to update")


def _check_partitions_to_get(database_name: str, table_name: str, keys: list[Any]) -> None:
    if len(keys) > GLUE_BATCH_GET_MAX:
        raise InvalidInputException("BatchGetPartition", "over 1000 partitions to get")


def _check_role(role_name: str, *args: Any, **kwargs: Any) -> None:
    if not ROLE_NAME.fullmatch(role_name):
        raise IamValidationError(f"role name {role_name!r} is not 1-64 of [\\w+=,.@-]")


def _check_function(spec: dict[str, Any]) -> None:
    name = str(spec.get("FunctionName", ""))
    if not FUNCTION_NAME.fullmatch(name):
        raise JsonRESTError(
            "ValidationException", f"function name {name!r} is not 1-64 [a-zA-Z0-9-_]"
        )


def _check_state_machine(name: str, definition: str, *args: Any, **kwargs: Any) -> None:
    if len(definition.encode()) > DEFINITION_MAX:
        raise ValidationException(f"definition of {len(definition.encode())} bytes is over 1 MB")
    for state in state_names(json.loads(definition)):
        if not 1 <= len(state) <= STATE_NAME_MAX:
            raise ValidationException(f"state name {state!r} is over {STATE_NAME_MAX} characters")


def _check_execution(
    state_machine_arn: str, name: str, execution_input: str, *args: Any, **kwargs: Any
) -> None:
    if execution_input and len(execution_input.encode()) > EXECUTION_INPUT_MAX:
        raise ValidationException("execution input is over 256 KiB")


def _guard_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    def check_template(response: Any) -> None:
        body = response._get_param("TemplateBody")
        if body and len(body.encode()) > TEMPLATE_BODY_MAX:
            raise CfnValidationError(
                message="Templates with a size greater than 51,200 bytes must be deployed via "
                "an S3 Bucket"
            )
        url = response._get_param("TemplateURL")
        if url:
            if len(url) > TEMPLATE_URL_MAX:
                raise CfnValidationError(message="TemplateURL is over 1024 characters")
            fetched = response._get_stack_from_s3_url(url)
            if len(fetched.encode()) > TEMPLATE_URL_OBJECT_MAX:
                raise CfnValidationError(message="Template may not exceed 1000000 bytes in size.")

    for action in ("create_change_set", "create_stack", "update_stack", "validate_template"):
        original = getattr(cfn_responses.CloudFormationResponse, action)

        def guarded(self, _original=original):  # type: ignore[no-untyped-def]
            check_template(self)
            return _original(self)

        monkeypatch.setattr(cfn_responses.CloudFormationResponse, action, guarded)


def _requests_come_over_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a limit but a difference: moto evaluates a bucket policy's conditions only for the
    operators it knows and holds any other (such as `Bool`) as met, so a TLS-only policy
    (`Deny` when `aws:SecureTransport` is false) denies every request. boto3 speaks HTTPS, so on
    AWS that statement never applies to these calls: here neither."""
    original = IAMPolicyStatement.is_action_permitted
    tls_only = {"Bool": {"aws:SecureTransport": "false"}}

    def permitted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self._statement.get("Effect") == "Deny" and self._statement.get("Condition") == tls_only:
            return PermissionResult.NEUTRAL
        return original(self, *args, **kwargs)

    monkeypatch.setattr(IAMPolicyStatement, "is_action_permitted", permitted)


def _log_groups_update_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A difference: moto's CloudFormation has no update for AWS::Logs::LogGroup, so a stack
    update that touches one (moto counts a parameter the group references, such as KmsKeyArn,
    as changed when the create left it at its default) loses the group and every GetAtt of it.
    AWS updates a log group in place; so does this."""
    from moto.logs.models import LogGroup, logs_backends

    def update(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):  # type: ignore[no-untyped-def]
        properties = cloudformation_json["Properties"]
        group = logs_backends[account_id][region_name].groups[original_resource.name]
        group.retention_in_days = properties.get("RetentionInDays")
        return group

    monkeypatch.setattr(
        LogGroup, "update_from_cloudformation_json", classmethod(update), raising=False
    )
