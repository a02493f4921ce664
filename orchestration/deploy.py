"""One-command deploy: build the artifacts, upload them under content-hashed keys, then create or
update the CloudFormation stack through a change set.

    python -m orchestration.deploy deploy  --prefix blee --source-secret-arn arn:...
    python -m orchestration.deploy plan    --prefix blee --source-secret-arn arn:...
    python -m orchestration.deploy destroy --prefix blee

(or `make deploy`, `make deploy-plan`, `make destroy` with PREFIX=... SOURCE_SECRET_ARN=...)

Running `deploy` again with no change uploads nothing and leaves the stack as it is: the keys
are hashes of the bytes, the artifacts are built reproducibly, and a change set without changes
is discarded. `plan` uploads nothing and changes nothing.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
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

REPO = Path(__file__).resolve().parents[1]
# Zip entries carry timestamps; a fixed one makes the same sources give the same bytes.
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can hold
TRIGGER_MODULES = ("retail_etl/__init__.py", "retail_etl/errors.py", "retail_etl/params.py")

Say = Callable[[str], None]


class DeployError(Exception):
    """A deploy that cannot go on; the message says why."""


@dataclass(frozen=True)
class Artifact:
    """A built file and the content-hashed key it is stored under."""

    path: Path
    kind: str  # scripts | wheels | lambda
    parameter: str  # the template parameter that receives the key

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
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(REPO / name, source / name)
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


def build_artifacts(out: Path) -> list[Artifact]:
    out.mkdir(parents=True, exist_ok=True)
    artifacts = [
        Artifact(build_wheel(out), "wheels", "WheelKey"),
        Artifact(build_trigger_zip(out), "lambda", "TriggerCodeKey"),
    ]
    for job in r.JOBS:
        artifacts.append(Artifact(REPO / job.script, "scripts", template.job_script_parameter(job)))
    return artifacts


def default_bucket(prefix: str, account: str, region: str) -> str:
    return f"{prefix}-hist-retail-artifacts-{account}-{region}"


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


@dataclass(frozen=True)
class StackSettings:
    prefix: str
    bucket: str
    source_secret_arn: str
    schedule: str = r.DEFAULT_SCHEDULE
    source_connection: str = ""

    def parameters(self, artifacts: list[Artifact]) -> list[dict[str, str]]:
        values = {
            "Prefix": self.prefix,
            "ArtifactsBucket": self.bucket,
            "SourceSecretArn": self.source_secret_arn,
            "ScheduleExpression": self.schedule,
            "SourceConnection": self.source_connection,
            **{a.parameter: a.key(self.prefix) for a in artifacts},
        }
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


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


def create_change_set(
    cfn: Any, stack: str, parameters: list[dict[str, str]]
) -> dict[str, Any] | None:
    """A reviewed change set, or None when it holds no change (and has been discarded)."""
    if stack_status(cfn, stack) == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack} is in ROLLBACK_COMPLETE after a failed create and cannot be "
            "updated; `make destroy` it, then deploy again"
        )
    name = f"deploy-{int(time.time())}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType="UPDATE" if stack_exists(cfn, stack) else "CREATE",
        TemplateBody=template.render(),
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
    if not isinstance(deployed, str):
        deployed = json.dumps(deployed, indent=2) + "\n"
    return list(
        difflib.unified_diff(
            deployed.splitlines(),
            template.render().splitlines(),
            "deployed",
            "this checkout",
            lineterm="",
        )
    )


def wait_for_stack(cfn: Any, stack: str, say: Say) -> str:
    while True:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        time.sleep(5)
    say(f"stack {stack}: {status}")
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise DeployError(f"stack {stack} ended {status}; see its events in the console")
    return str(status)


def deploy(
    session: Any, settings: StackSettings, artifacts: list[Artifact], say: Say = print
) -> str:
    s3, cfn = session.client("s3"), session.client("cloudformation")
    stack = r.stack_name(settings.prefix)
    ensure_bucket(s3, settings.bucket, session.region_name, say)
    upload(s3, settings.bucket, settings.prefix, artifacts, say)
    change_set = create_change_set(cfn, stack, settings.parameters(artifacts))
    if change_set is None:
        say(f"stack {stack}: nothing to change")
        return "unchanged"
    say(f"stack {stack}: applying {len(change_set['Changes'])} change(s)")
    for line in describe_changes(change_set):
        say(line)
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    return wait_for_stack(cfn, stack, say)


def plan(
    session: Any, settings: StackSettings, artifacts: list[Artifact], say: Say = print
) -> dict[str, Any]:
    """What `deploy` would do. Uploads nothing; a change set is created only to be read and
    deleted (CloudFormation needs the artifacts' keys in place to review a change)."""
    s3, cfn = session.client("s3"), session.client("cloudformation")
    stack = r.stack_name(settings.prefix)
    to_upload = [
        a.key(settings.prefix)
        for a in missing_artifacts(s3, settings.bucket, settings.prefix, artifacts)
    ]
    for key in to_upload:
        say(f"would upload s3://{settings.bucket}/{key}")
    diff = template_diff(cfn, stack)
    exists = stack_exists(cfn, stack)
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
    if exists and not to_upload:
        change_set = create_change_set(cfn, stack, settings.parameters(artifacts))
        if change_set is not None:
            for line in describe_changes(change_set):
                say(line)
            cfn.delete_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    return {"upload": to_upload, "stack_exists": exists, "template_diff": diff}


def destroy(session: Any, prefix: str, say: Say = print) -> None:
    cfn = session.client("cloudformation")
    stack = r.stack_name(prefix)
    if not stack_exists(cfn, stack):
        say(f"stack {stack} does not exist")
        return
    cfn.delete_stack(StackName=stack)
    say(f"deleting stack {stack} (the artifacts bucket and the lake are kept)")


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
        help="artifacts bucket (default: <prefix>-hist-retail-artifacts-<account>-<region>)",
    )
    parser.add_argument("--source-secret-arn", help="Secrets Manager secret of the source database")
    parser.add_argument(
        "--source-connection", default="", help="Glue connection to the source's VPC"
    )
    parser.add_argument(
        "--schedule",
        default=r.DEFAULT_SCHEDULE,
        help=f"EventBridge schedule ({r.DEFAULT_SCHEDULE})",
    )
    args = parser.parse_args(argv)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.session.Session(region_name=args.region)
        if not session.region_name:
            raise DeployError("no AWS region: pass --region or set AWS_REGION")
        if args.action == "destroy":
            destroy(session, args.prefix)
            return 0
        if not args.source_secret_arn:
            raise DeployError(
                "--source-secret-arn (make ... SOURCE_SECRET_ARN=arn:...) is required"
            )
        account = session.client("sts").get_caller_identity()["Account"]
        bucket = args.bucket or default_bucket(args.prefix, account, session.region_name)
        settings = StackSettings(
            args.prefix, bucket, args.source_secret_arn, args.schedule, args.source_connection
        )
        with tempfile.TemporaryDirectory(prefix="hist-retail-artifacts-") as out:
            artifacts = build_artifacts(Path(out))
            if args.action == "plan":
                plan(session, settings, artifacts)
            else:
                deploy(session, settings, artifacts)
    except (DeployError, BotoCoreError, ClientError) as err:
        print(f"deploy: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
