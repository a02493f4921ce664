"""One-command deploy: build the artifacts, upload them under content-hashed keys, then create or
update the CloudFormation stack through a change set.

    python -m orchestration.deploy plan    --prefix blee --lake-bucket lake --source-secret-arn arn:
    python -m orchestration.deploy deploy  --prefix blee --lake-bucket lake --source-secret-arn arn:
    python -m orchestration.deploy deploy  --prefix blee      (later: settings not given are kept)
    python -m orchestration.deploy destroy --prefix blee

(or `make deploy-plan`, `make deploy`, `make destroy` with PREFIX=... LAKE_BUCKET=...
SOURCE_SECRET_ARN=...)

Running `deploy` again with no change uploads nothing and leaves the stack as it is: the keys
are hashes of the bytes, the artifacts are built reproducibly, and a change set without changes
is discarded. `plan` uploads nothing and changes nothing. Before changing anything, both check
what would make the stack fail: the lake bucket, names taken outside the stack, missing settings.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration import resources as r
from orchestration import template
from retail_etl.errors import ArgumentError
from retail_etl.params import MAX_LOOKBACK_DAYS, parse_lookback

REPO = Path(__file__).resolve().parents[1]
# Zip entries carry timestamps; a fixed one makes the same sources give the same bytes.
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can hold
TRIGGER_MODULES = ("retail_etl/__init__.py", "retail_etl/errors.py", "retail_etl/params.py")

Say = Callable[[str], None]
# CloudFormation's limits: a template passed as TemplateBody is at most 51,200 bytes (ours is
# larger, so it always goes through S3); one read from S3 through TemplateURL, at most 1 MB.
MAX_TEMPLATE_URL_BYTES = 1_000_000


class DeployError(Exception):
    """A deploy that cannot go on; the message says why."""


@dataclass(frozen=True)
class Artifact:
    """A built file and the content-hashed key it is stored under."""

    path: Path
    kind: str  # scripts | wheels | lambda | templates
    parameter: str | None  # the template parameter that receives the key (none: the template)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def key(self, prefix: str) -> str:
        return f"{prefix}/{self.kind}/{self.sha256[:16]}/{self.path.name}"


def build_wheel(out: Path) -> Path:
    """The retail_etl wheel, built reproducibly (fixed timestamps, no build isolation)."""
    with tempfile.TemporaryDirectory(prefix="retail-etl-wheel-") as scratch:
        source = Path(scratch) / "src"
        shutil.copytree(
            REPO / "retail_etl", source / "retail_etl", ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copy2(REPO / "README.md", source / "README.md")
        # `retail-etl` is the laptop harness's command (retail_etl.local, not in the wheel):
        # a Glue job's pip would install a script that cannot start.
        project = (REPO / "pyproject.toml").read_text(encoding="utf-8")
        (source / "pyproject.toml").write_text(
            re.sub(r"\n\[project\.scripts\]\n[^\[]*", "\n", project), encoding="utf-8"
        )
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
             "--wheel-dir", str(out), str(source)],
            check=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
        )  # fmt: skip
    (wheel,) = out.glob("retail_etl-*.whl")
    return wheel


def build_trigger_zip(out: Path) -> Path:
    """The Lambda's code: trigger.py and the date validation it shares with the jobs."""
    path = out / "hist_retail_trigger.zip"
    members = {"trigger.py": REPO / "orchestration" / "trigger.py"}
    members.update({name: REPO / name for name in TRIGGER_MODULES})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name].read_bytes(), zipfile.ZIP_DEFLATED)
    return path


def build_template(out: Path) -> Path:
    """The rendered template, minified: CloudFormation reads it from S3 (TemplateURL)."""
    path = out / template.TEMPLATE_PATH.name
    body = json.dumps(template.template(), separators=(",", ":"))
    if len(body.encode()) > MAX_TEMPLATE_URL_BYTES:
        raise DeployError(
            f"the template is {len(body.encode()):,} bytes; CloudFormation reads at most "
            f"{MAX_TEMPLATE_URL_BYTES:,} from S3"
        )
    path.write_text(body, encoding="utf-8")
    return path


def build_artifacts(out: Path) -> list[Artifact]:
    out.mkdir(parents=True, exist_ok=True)
    artifacts = [
        Artifact(build_template(out), "templates", None),
        Artifact(build_wheel(out), "wheels", "WheelKey"),
        Artifact(build_trigger_zip(out), "lambda", "TriggerCodeKey"),
    ]
    for job in r.JOBS:
        artifacts.append(Artifact(REPO / job.script, "scripts", template.job_script_parameter(job)))
    return artifacts


def missing_artifacts(
    s3: Any, bucket: str, prefix: str, artifacts: list[Artifact]
) -> list[Artifact]:
    """The artifacts whose key is not in the bucket yet (all of them when there is no bucket)."""
    missing = []
    for artifact in artifacts:
        try:
            s3.head_object(Bucket=bucket, Key=artifact.key(prefix))
        except s3.exceptions.ClientError as err:
            if err.response["Error"]["Code"] not in ("404", "NoSuchKey", "NoSuchBucket", "403"):
                raise
            missing.append(artifact)
    return missing


def upload(s3: Any, bucket: str, prefix: str, artifacts: list[Artifact], say: Say) -> list[str]:
    """Upload what is missing; returns the keys uploaded."""
    uploaded = []
    for artifact in missing_artifacts(s3, bucket, prefix, artifacts):
        key = artifact.key(prefix)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=artifact.path.read_bytes(),
            ChecksumSHA256=_b64(artifact.sha256),
        )
        say(f"uploaded s3://{bucket}/{key}")
        uploaded.append(key)
    if not uploaded:
        say("artifacts: all already uploaded")
    return uploaded


def _b64(hex_digest: str) -> str:
    import base64

    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


# Parameters a deploy may leave out: on an update they keep their deployed value; on the first
# deploy those without a template default must be given (the option that gives each).
OPTIONAL_ON_UPDATE = {
    "SourceSecretArn": "--source-secret-arn (SOURCE_SECRET_ARN=)",
    "LakeBucket": "--lake-bucket (LAKE_BUCKET=)",
    "SourceConnection": "--source-connection (SOURCE_CONNECTION=)",
    "ScheduleExpression": "--schedule (SCHEDULE=)",
    "LookbackDays": "--lookback-days (LOOKBACK_DAYS=)",
    "CatalogMode": "--catalog (CATALOG=)",
    "AlertEmail": "--alert-email (ALERT_EMAIL=)",
    "KmsKeyArn": "--kms-key-arn (KMS_KEY_ARN=)",
    "SourceSecretKmsKeyArn": "--source-secret-kms-key-arn (SOURCE_SECRET_KMS_KEY_ARN=)",
}


@dataclass(frozen=True)
class StackSettings:
    """What the user asked for; None means "keep the deployed value" (or the default)."""

    prefix: str
    bucket: str
    source_secret_arn: str | None = None
    lake_bucket: str | None = None
    schedule: str | None = None
    lookback_days: int | None = None
    source_connection: str | None = None
    catalog_mode: str | None = None
    alert_email: str | None = None
    kms_key_arn: str | None = None
    source_secret_kms_key_arn: str | None = None

    def given(self) -> dict[str, str | None]:
        return {
            "AlertEmail": self.alert_email,
            "KmsKeyArn": self.kms_key_arn,
            "SourceSecretKmsKeyArn": self.source_secret_kms_key_arn,
            "SourceSecretArn": self.source_secret_arn,
            "LakeBucket": self.lake_bucket,
            "ScheduleExpression": self.schedule,
            "LookbackDays": None if self.lookback_days is None else str(self.lookback_days),
            "SourceConnection": self.source_connection,
            "CatalogMode": self.catalog_mode,
        }

    def parameters(
        self, artifacts: list[Artifact], deployed: dict[str, str] | None
    ) -> list[dict[str, Any]]:
        """The change set's parameters. `deployed`: the stack's current values (None: no stack).

        A parameter left out keeps its deployed value (UsePreviousValue), so a later deploy never
        clears a connection or a schedule given earlier. CloudFormation refuses UsePreviousValue
        for a parameter the deployed stack does not have: such a one takes its default.
        """
        values: dict[str, Any] = {
            "Prefix": self.prefix,
            "ArtifactsBucket": self.bucket,
            **{a.parameter: a.key(self.prefix) for a in artifacts if a.parameter},
        }
        declared = template.parameters()
        missing = []
        for name, value in self.given().items():
            if value is not None:
                values[name] = value
            elif deployed is not None and name in deployed:
                values[name] = None
            elif "Default" not in declared[name]:
                missing.append(OPTIONAL_ON_UPDATE[name])
        if missing:
            raise DeployError(f"the first deploy needs {' and '.join(missing)}")
        return [
            {"ParameterKey": k, "UsePreviousValue": True}
            if v is None
            else {"ParameterKey": k, "ParameterValue": v}
            for k, v in sorted(values.items())
        ]

    def lake_bucket_of(self, deployed: dict[str, str] | None) -> str | None:
        return self.lake_bucket or (deployed or {}).get("LakeBucket")


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def template_artifact(artifacts: list[Artifact]) -> Artifact:
    (found,) = [a for a in artifacts if a.kind == "templates"]
    return found


# Stack states a deploy cannot start from, and what the user does about each.
STUCK = {
    "ROLLBACK_COMPLETE": "its first create failed and it cannot be updated: `make destroy`, "
    "then deploy again",
    "ROLLBACK_FAILED": "its first create failed and so did the rollback: `make destroy` "
    "(delete what it names by hand if it cannot), then deploy again",
    "DELETE_FAILED": "a delete failed: `make destroy` again, deleting by hand what the "
    "stack's events name",
    "UPDATE_ROLLBACK_FAILED": "an update failed and so did its rollback: fix what the stack's "
    "events name, then `aws cloudformation continue-update-rollback --stack-name STACK` "
    "(add --resources-to-skip for what cannot be rolled back), then deploy again",
}
DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
# A service checks a new role when the stack creates what uses it, and IAM changes take seconds
# to reach it: Glue creating a crawler ("Service is unable to assume provided role"), Step
# Functions creating a state machine that logs ("The state machine IAM Role is not authorized
# to access the Log Destination").
IAM_NOT_PROPAGATED = ("unable to assume", "not authorized to access the Log Destination")


def stack_status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None when there is no such stack."""
    try:
        return str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
    except cfn.exceptions.ClientError as err:
        if "does not exist" in str(err):
            return None
        raise


def stack_exists(cfn: Any, stack: str) -> bool:
    return stack_status(cfn, stack) not in (None, "REVIEW_IN_PROGRESS", "DELETE_COMPLETE")


def deployed_parameters(cfn: Any, stack: str) -> dict[str, str] | None:
    """The deployed stack's parameter values, or None when there is no stack."""
    if not stack_exists(cfn, stack):
        return None
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}


def settle(cfn: Any, stack: str, say: Say, poll_seconds: float = 5) -> str | None:
    """Wait while the stack is changing; its status then (None: no stack)."""
    said = False
    while True:
        status = stack_status(cfn, stack)
        if status is None or not status.endswith("_IN_PROGRESS") or status == "REVIEW_IN_PROGRESS":
            return status
        if not said:
            say(f"stack {stack} is {status}: waiting for it to end")
            said = True
        time.sleep(poll_seconds)


def create_change_set(
    cfn: Any, stack: str, url: str, parameters: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """A reviewed change set, or None when it holds no change (and has been discarded)."""
    status = stack_status(cfn, stack)
    if status in STUCK:
        raise DeployError(f"stack {stack} is {status}: {STUCK[status].replace('STACK', stack)}")
    name = f"deploy-{int(time.time())}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType="UPDATE" if stack_exists(cfn, stack) else "CREATE",
        TemplateURL=url,
        Parameters=parameters,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    while True:
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        if described["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            break
        time.sleep(2)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        cfn.delete_change_set(StackName=stack, ChangeSetName=name)
        if "didn't contain changes" in reason or "No updates" in reason:
            return None
        raise DeployError(f"change set for {stack} failed: {reason}")
    if not described.get("Changes"):
        cfn.delete_change_set(StackName=stack, ChangeSetName=name)
        return None
    return dict(described)


def describe_changes(change_set: dict[str, Any]) -> list[str]:
    lines = []
    for change in change_set.get("Changes", []):
        rc = change["ResourceChange"]
        replace = f" (replacement: {rc['Replacement']})" if rc.get("Replacement") else ""
        lines.append(
            f"  {rc['Action']:<7} {rc['LogicalResourceId']} [{rc['ResourceType']}]{replace}"
        )
    return lines


def template_diff(cfn: Any, stack: str) -> list[str]:
    """The unified diff between the deployed template and the one this checkout renders."""
    if not stack_exists(cfn, stack):
        return []
    deployed = cfn.get_template(StackName=stack)["TemplateBody"]
    if isinstance(deployed, str):  # uploaded minified: compare as the checked-in file is laid out
        deployed = json.loads(deployed)
    return list(
        difflib.unified_diff(
            (json.dumps(deployed, indent=2) + "\n").splitlines(),
            template.render().splitlines(),
            "deployed",
            "this checkout",
            lineterm="",
        )
    )


def failure_reason(cfn: Any, stack: str) -> str:
    """The first resource failure of the stack's latest operation, as CloudFormation says it
    (later failures are mostly "Resource creation cancelled")."""
    reasons = []
    for event in cfn.describe_stack_events(StackName=stack)["StackEvents"]:  # newest first
        if event.get("ResourceType") == "AWS::CloudFormation::Stack":
            if event.get("ResourceStatusReason") == "User Initiated":
                break  # the start of the latest operation
            continue
        if event["ResourceStatus"].endswith("_FAILED") and event.get("ResourceStatusReason"):
            reasons.append(f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}")
    return reasons[-1] if reasons else "no resource said why; see the stack's events"


def wait_for_stack(cfn: Any, stack: str, say: Say) -> str:
    status = settle(cfn, stack, say) or "DELETE_COMPLETE"
    say(f"stack {stack}: {status}")
    return status


# Named resources the template creates under fixed or prefixed names: one made outside the
# stack (by hand, or by another stack) makes CREATE fail with AlreadyExists and roll back.
def named_resources(prefix: str) -> list[tuple[str, str]]:
    return [
        ("Glue database", r.GLUE_DATABASE),
        *[("Glue job", job.name) for job in r.JOBS],
        *[("Glue crawler", c.name) for c in r.CRAWLERS.values()],
        *[("IAM role", r.role_name(prefix, k)) for k in ("glue", "statemachine", "trigger")],
    ]


def _exists(session: Any, kind: str, name: str) -> bool:
    glue, iam = session.client("glue"), session.client("iam")
    lookups = {
        "Glue database": lambda: glue.get_database(Name=name),
        "Glue job": lambda: glue.get_job(JobName=name),
        "Glue crawler": lambda: glue.get_crawler(Name=name),
        "IAM role": lambda: iam.get_role(RoleName=name),
    }
    try:
        lookups[kind]()
    except (glue.exceptions.EntityNotFoundException, iam.exceptions.NoSuchEntityException):
        return False
    return True


def collisions(session: Any, prefix: str) -> list[tuple[str, str]]:
    """Named resources that exist but do not belong to this prefix's stack."""
    cfn = session.client("cloudformation")
    stack = r.stack_name(prefix)
    owned: set[str] = set()
    if stack_exists(cfn, stack):
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            summaries = page["StackResourceSummaries"]
            owned.update(res.get("PhysicalResourceId", "") for res in summaries)
    return [
        (kind, name)
        for kind, name in named_resources(prefix)
        if name not in owned and _exists(session, kind, name)
    ]


def collision_advice(found: list[tuple[str, str]]) -> str:
    names = ", ".join(f"{kind} {name}" for kind, name in found)
    return (
        f"{names} already exist outside this stack, so creating them would fail and roll the "
        "stack back: delete them (the lake's files stay; see README 'First deploy'), or import "
        "them into the stack with a change set of type IMPORT"
    )


def check_lake_bucket(s3: Any, bucket: str | None, region: str) -> str:
    """The lake bucket, after checking that it exists, is reachable and is in `region`."""
    if bucket is None:
        raise DeployError("the first deploy needs --lake-bucket (LAKE_BUCKET=)")
    try:
        s3.head_bucket(Bucket=bucket)
        located = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except s3.exceptions.ClientError as err:
        code = err.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket"):
            raise DeployError(
                f"lake bucket {bucket} does not exist: create it first (README 'First deploy')"
            ) from None
        raise DeployError(
            f"lake bucket {bucket} is not reachable with these credentials ({code}): is it "
            "another account's?"
        ) from None
    if located != region:
        raise DeployError(f"lake bucket {bucket} is in {located}, the stack goes to {region}")
    return bucket


def ensure_bucket(s3: Any, bucket: str, region: str, say: Say) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError as err:
        if err.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise DeployError(f"artifacts bucket {bucket} is not usable: {err}") from None
    say(f"creating artifacts bucket {bucket}")
    options: dict[str, Any] = {}
    if region != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **options)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket, region)))


def partition(region: str) -> str:
    return (
        "aws-cn"
        if region.startswith("cn-")
        else ("aws-us-gov" if region.startswith("us-gov-") else "aws")
    )


def tls_only_policy(bucket: str, region: str) -> dict[str, Any]:
    """Refuse every request to the artifacts bucket that does not come over TLS."""
    arn = f"arn:{partition(region)}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def deploy(
    session: Any,
    settings: StackSettings,
    artifacts: list[Artifact],
    say: Say = print,
    retry_seconds: float = 30,
) -> str:
    s3, cfn = session.client("s3"), session.client("cloudformation")
    region = session.region_name
    stack = r.stack_name(settings.prefix)
    settle(cfn, stack, say)
    deployed = deployed_parameters(cfn, stack)
    parameters = settings.parameters(artifacts, deployed)  # refuses before anything is changed
    check_lake_bucket(s3, settings.lake_bucket_of(deployed), region)
    found = collisions(session, settings.prefix)
    if found:
        raise DeployError(collision_advice(found))
    ensure_bucket(s3, settings.bucket, region, say)
    upload(s3, settings.bucket, settings.prefix, artifacts, say)
    url = template_url(settings.bucket, region, template_artifact(artifacts).key(settings.prefix))
    retried = False
    while True:
        change_set = create_change_set(cfn, stack, url, parameters)
        if change_set is None:
            say(f"stack {stack}: nothing to change")
            return "unchanged"
        say(f"stack {stack}: applying {len(change_set['Changes'])} change(s)")
        for line in describe_changes(change_set):
            say(line)
        cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
        status = wait_for_stack(cfn, stack, say)
        if status in DONE:
            return status
        reason = failure_reason(cfn, stack)
        if retried or not any(phrase in reason for phrase in IAM_NOT_PROPAGATED):
            advice = STUCK.get(status)
            raise DeployError(
                f"stack {stack} ended {status}: {reason}"
                + (f"; {advice.replace('STACK', stack)}" if advice else "")
            )
        say(
            f"stack {stack}: {reason} -- a new IAM role had not reached the service yet; "
            f"trying once more in {retry_seconds:g} s"
        )
        retried = True
        if status == "ROLLBACK_COMPLETE":  # a failed first create: remove it, then create again
            cfn.delete_stack(StackName=stack)
            settle(cfn, stack, say)
        time.sleep(retry_seconds)


def plan(
    session: Any, settings: StackSettings, artifacts: list[Artifact], say: Say = print
) -> dict[str, Any]:
    """What `deploy` would do. Uploads nothing; a change set is created only to be read and
    deleted (CloudFormation needs the artifacts' keys in place to review a change)."""
    s3, cfn = session.client("s3"), session.client("cloudformation")
    stack = r.stack_name(settings.prefix)
    problems = []
    deployed = deployed_parameters(cfn, stack)
    try:
        parameters = settings.parameters(artifacts, deployed)
    except DeployError as err:
        problems.append(str(err))
        parameters = []
    try:
        check_lake_bucket(s3, settings.lake_bucket_of(deployed), session.region_name)
    except DeployError as err:
        problems.append(str(err))
    found = collisions(session, settings.prefix)
    if found:
        problems.append(collision_advice(found))
    for problem in problems:
        say(f"deploy would fail: {problem}")
    connection = settings.source_connection
    if connection is None and deployed is not None:
        connection = deployed.get("SourceConnection")
    network = network_problems(session, connection) if connection else []
    for line in network:
        say(f"a night would fail: {line}")
    to_upload = [
        a.key(settings.prefix)
        for a in missing_artifacts(s3, settings.bucket, settings.prefix, artifacts)
    ]
    for key in to_upload:
        say(f"would upload s3://{settings.bucket}/{key}")
    diff = template_diff(cfn, stack)
    exists = deployed is not None
    if not exists:
        resources = template.template()["Resources"]
        say(f"stack {stack} does not exist: would create {len(resources)} resources")
        for logical, resource in resources.items():
            say(f"  Add     {logical} [{resource['Type']}]")
    elif diff:
        say(f"stack {stack}: template changes")
        for line in diff:
            say(line)
    else:
        say(f"stack {stack}: template unchanged")
    if exists and not to_upload and not problems:
        url = template_url(
            settings.bucket,
            session.region_name,
            template_artifact(artifacts).key(settings.prefix),
        )
        change_set = create_change_set(cfn, stack, url, parameters)
        if change_set is not None:
            for line in describe_changes(change_set):
                say(line)
            cfn.delete_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    return {
        "upload": to_upload,
        "stack_exists": exists,
        "template_diff": diff,
        "problems": problems,
        "collisions": found,
        "network": network,
    }


def network_problems(session: Any, connection: str) -> list[str]:
    """What a job in the connection's subnet cannot reach, or why that cannot be told."""
    from orchestration import network

    try:
        return network.unreachable(session, connection)
    except Exception as err:  # a missing connection or subnet: said, not raised
        return [f"the network path of connection {connection} cannot be checked: {err}"]


def destroy(session: Any, prefix: str, say: Say = print) -> None:
    """Delete the stack and wait until it is gone; a stuck delete is named with what to do."""
    cfn = session.client("cloudformation")
    stack = r.stack_name(prefix)
    if settle(cfn, stack, say) in (None, "DELETE_COMPLETE"):
        say(f"stack {stack} does not exist")
        return
    say(f"deleting stack {stack} (the artifacts bucket and the lake are kept)")
    cfn.delete_stack(StackName=stack)
    status = settle(cfn, stack, say)
    if status not in (None, "DELETE_COMPLETE"):
        raise DeployError(
            f"stack {stack} ended {status}: {failure_reason(cfn, stack)}; "
            + STUCK.get(status, "see its events").replace("STACK", stack)
        )
    say(f"stack {stack}: deleted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.deploy", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("action", choices=["deploy", "plan", "destroy"])
    parser.add_argument(
        "--prefix", required=True, help="names the stack and its resources (e.g. blee)"
    )
    parser.add_argument("--region", help="AWS region (default: the session's)")
    parser.add_argument(
        "--bucket",
        help="artifacts bucket (default: <prefix>-hr-artifacts-<account>-<region>, created)",
    )
    parser.add_argument(
        "--source-secret-arn",
        help="Secrets Manager secret of the source database (first deploy; then kept)",
    )
    parser.add_argument(
        "--lake-bucket", help="the lake's existing bucket (first deploy; then kept)"
    )
    parser.add_argument(
        "--source-connection",
        help="Glue connection into the source's VPC; '' removes it (default: kept)",
    )
    parser.add_argument(
        "--schedule", help=f"EventBridge schedule (first deploy: {r.DEFAULT_SCHEDULE}; then kept)"
    )
    parser.add_argument(
        "--lookback-days",
        help=f"days before each night's day that it re-checks and restates when changed, 0 to "
        f"{MAX_LOOKBACK_DAYS} (first deploy: {r.DEFAULT_LOOKBACK_DAYS}; then kept)",
    )
    parser.add_argument("--alert-email", help="e-mail subscribed to the alert topic ('' removes)")
    parser.add_argument(
        "--kms-key-arn", help="KMS key for lake writes, logs and alerts ('' for SSE-S3)"
    )
    parser.add_argument(
        "--source-secret-kms-key-arn",
        help="the customer managed KMS key the source secret is encrypted with, if any "
        "('' for the AWS managed key): the Glue role may decrypt with it through Secrets Manager",
    )
    parser.add_argument(
        "--catalog",
        choices=["tables", "crawlers"],
        help="tables: jobs publish through the declared tables (first deploy default); "
        "crawlers: the seed's crawl after each job (then kept)",
    )
    args = parser.parse_args(argv)
    try:
        r.check_prefix(args.prefix)
        for bucket in (args.bucket, args.lake_bucket):
            if bucket is not None:
                r.check_bucket_name(bucket)
        lookback = (
            None
            if args.lookback_days is None
            else parse_lookback(args.lookback_days, "--lookback-days")
        )
    except (r.InvalidName, ArgumentError) as err:
        parser.exit(2, f"deploy: error: {err}\n")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.session.Session(region_name=args.region)
        if not session.region_name:
            raise DeployError("no AWS region: pass --region or set AWS_REGION")
        if args.action == "destroy":
            destroy(session, args.prefix)
            return 0
        account = session.client("sts").get_caller_identity()["Account"]
        bucket = args.bucket or r.check_bucket_name(
            r.artifacts_bucket_name(args.prefix, account, session.region_name)
        )
        settings = StackSettings(
            args.prefix,
            bucket,
            source_secret_arn=args.source_secret_arn,
            lake_bucket=args.lake_bucket,
            schedule=args.schedule,
            lookback_days=lookback,
            source_connection=args.source_connection,
            catalog_mode=args.catalog,
            alert_email=args.alert_email,
            kms_key_arn=args.kms_key_arn,
            source_secret_kms_key_arn=args.source_secret_kms_key_arn,
        )
        with tempfile.TemporaryDirectory(prefix="hist-retail-artifacts-") as out:
            artifacts = build_artifacts(Path(out))
            if args.action == "plan":
                plan(session, settings, artifacts)
            else:
                deploy(session, settings, artifacts)
    except (DeployError, r.InvalidName, BotoCoreError, ClientError) as err:
        print(f"deploy: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
