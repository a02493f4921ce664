"""Deploy against moto held to AWS's limits (tests/aws_limits.py): reproducible artifacts,
content-hashed keys, the template through S3, idempotence, kept parameters, plan mode with its
checks, stuck stacks and the IAM propagation retry."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import aws_limits
import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.models import Event, cloudformation_backends

from orchestration import deploy, template
from orchestration import resources as r

SECRET = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:hist-retail-source"
BUCKET = "blee-artifacts"
LAKE = "blee-lake"
REGION = "ap-northeast-2"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> list[deploy.Artifact]:
    return deploy.build_artifacts(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def session(aws_env):  # type: ignore[no-untyped-def]
    with mock_aws():
        session = boto3.session.Session()
        make_bucket(session, LAKE)
        yield session


def make_bucket(session, name: str) -> None:  # type: ignore[no-untyped-def]
    session.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def settings(**given: Any) -> deploy.StackSettings:
    return deploy.StackSettings(
        "blee", BUCKET, **({"source_secret_arn": SECRET, "lake_bucket": LAKE} | given)
    )


def quiet(line: str) -> None:
    pass


def stack_parameters(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    described = session.client("cloudformation").describe_stacks(StackName="blee-hist-retail")
    return {p["ParameterKey"]: p["ParameterValue"] for p in described["Stacks"][0]["Parameters"]}


def moto_stack(name: str = "blee-hist-retail"):  # type: ignore[no-untyped-def]
    backend = cloudformation_backends[ACCOUNT][REGION]
    (stack,) = [s for s in backend.stacks.values() if s.name == name]
    return stack


def objects(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listed}


def test_builds_are_reproducible(artifacts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    again = deploy.build_artifacts(tmp_path)
    assert [a.key("p") for a in again] == [a.key("p") for a in artifacts]
    names = sorted(a.path.name for a in artifacts)
    assert names == sorted(
        [
            "hist_retail.template.json",
            "hist_retail_trigger.zip",
            "retail_etl-0.1.0-py3-none-any.whl",
        ]
        + [f"{job.name}.py" for job in r.JOBS]
    )
    (uploaded_template,) = [a.path for a in artifacts if a.kind == "templates"]
    assert json.loads(uploaded_template.read_text()) == template.template()


def test_trigger_zip_runs_on_its_own(artifacts, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (bundle,) = [a.path for a in artifacts if a.kind == "lambda"]
    shutil.unpack_archive(bundle, tmp_path, "zip")
    import subprocess
    import sys

    done = subprocess.run(
        # -S: no site-packages, so nothing but the zip's own files can be imported
        [sys.executable, "-S", "-c",
         "import sys; sys.path.insert(0, '.'); import trigger, retail_etl; "
         "print(retail_etl.__file__); "
         "print(trigger.requested_days({'EXTRACT_DATE': '2015-01-05'}).days)"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(tmp_path / "retail_etl" / "__init__.py")
    assert "datetime.date(2015, 1, 5)" in done.stdout


def test_the_wheel_needs_no_package_index(artifacts) -> None:  # type: ignore[no-untyped-def]
    """The jobs install it with `--no-index` (a VPC without internet reaches no PyPI): it must
    declare no dependency, Glue's own Spark, awsglue and boto3 being there already."""
    import zipfile

    (wheel,) = [a.path for a in artifacts if a.kind == "wheels"]
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    requires = [ln for ln in text.splitlines() if ln.startswith("Requires-Dist:")]
    assert all("extra ==" in ln for ln in requires), requires  # extras only, never installed


def test_trigger_zip_needs_no_time_zone_database(artifacts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Some Lambda images ship no zoneinfo files: the schedule's day must not need them."""
    (bundle,) = [a.path for a in artifacts if a.kind == "lambda"]
    shutil.unpack_archive(bundle, tmp_path, "zip")
    import subprocess
    import sys

    event = (
        "{'source': 'aws.events', 'detail-type': 'Scheduled Event', 'time': '2015-01-05T15:00:00Z'}"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c",
         "import sys; sys.path.insert(0, '.'); import trigger; "
         f"print(trigger.requested_days({event}).days)"],
        cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONTZPATH": str(tmp_path / "no-zoneinfo")},  # no database at all
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "datetime.date(2015, 1, 5)" in done.stdout  # 00:00 on the 6th in Seoul: the 5th


def test_the_template_is_too_large_for_a_request_body(session) -> None:  # type: ignore[no-untyped-def]
    # Why deploy goes through S3: AWS refuses a TemplateBody over 51,200 bytes (so does moto,
    # held to AWS's limits here), and the template is larger even minified.
    minified = json.dumps(template.template(), separators=(",", ":"))
    assert len(minified.encode()) > aws_limits.TEMPLATE_BODY_MAX
    cfn = session.client("cloudformation")
    with pytest.raises(cfn.exceptions.ClientError, match="51,200 bytes"):
        cfn.create_change_set(
            StackName="blee-hist-retail",
            ChangeSetName="too-big",
            ChangeSetType="CREATE",
            TemplateBody=minified,
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )


@pytest.mark.parametrize("prefix", ["b", "blee", "a" * 20, "team-7-hist-retail-x"])
def test_make_deploy_runs_end_to_end_within_aws_limits(session, prefix: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code = deploy.main(
        ["deploy", "--prefix", prefix, "--region", REGION,
         "--source-secret-arn", SECRET, "--lake-bucket", LAKE]
    )  # fmt: skip

    out, err = capsys.readouterr()
    assert code == 0, err
    bucket = f"{prefix}-hr-artifacts-{ACCOUNT}-{REGION}"
    assert aws_limits.bucket_name_refusal(bucket) is None
    keys = [o["Key"] for o in session.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert f"{prefix}/templates/" in " ".join(keys)
    machines = session.client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["name"] for m in machines] == [r.state_machine_name(prefix)]
    assert f"stack {r.stack_name(prefix)}: CREATE_COMPLETE" in out


def test_the_default_artifacts_bucket_fits_s3_for_the_longest_prefix_and_region() -> None:
    for region in ("us-east-1", "ap-southeast-2", "us-isof-south-1"):
        name = r.artifacts_bucket_name("a" * r.PREFIX_MAX_LENGTH, ACCOUNT, region)
        assert aws_limits.bucket_name_refusal(name) is None, name
    # the name of the first version did not
    old = f"{'a' * 20}-hist-retail-artifacts-{ACCOUNT}-ap-northeast-2"
    assert aws_limits.bucket_name_refusal(old) is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prefix", "Blee"], "prefix 'Blee' is not"),
        (["--prefix", "a" * 21], "is not 1-20"),
        (["--prefix", "a--b"], "prefix 'a--b'"),
        (["--prefix", "blee", "--lake-bucket", "My_Lake"], "bucket name 'My_Lake'"),
        (["--prefix", "blee", "--bucket", "xn--lake"], "reserves"),
        (
            ["--prefix", "blee", "--lookback-days", "63"],
            "--lookback-days '63' is not a whole number of days from 0 to 62",
        ),
        (["--prefix", "blee", "--lookback-days", "-2"], "--lookback-days '-2' is not"),
    ],
)
def test_bad_names_are_refused_up_front(argv: list[str], message: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exited:
        deploy.main(["deploy", "--region", REGION, *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_deploy_uploads_content_hashed_artifacts_and_creates_the_stack(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    assert deploy.deploy(session, settings(), artifacts, say=quiet) == "CREATE_COMPLETE"

    s3 = session.client("s3")
    uploaded = objects(session)
    assert len(uploaded) == len(artifacts)
    for key in uploaded:
        prefix, kind, digest, _ = key.split("/")
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert (prefix, hashlib.sha256(body).hexdigest()[:16]) == ("blee", digest)
        assert kind in ("wheels", "lambda", "scripts", "templates")

    encryption = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (tls,) = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    topics = [t["TopicArn"] for t in session.client("sns").list_topics()["Topics"]]
    assert [t.rsplit(":", 1)[1] for t in topics] == ["blee-hist-retail-alerts"]

    machines = session.client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["name"] for m in machines] == ["blee_hist_retail_dailybatch"]
    function = session.client("lambda").get_function(FunctionName="blee-hist-retail-dailybatch")
    assert (
        function["Configuration"]["Environment"]["Variables"]["STATE_MACHINE_ARN"]
        == (machines[0]["stateMachineArn"])
    )
    assert stack_parameters(session)["LakeBucket"] == LAKE


def test_a_second_deploy_without_changes_changes_nothing(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=quiet)
    before = objects(session)
    said: list[str] = []

    assert deploy.deploy(session, settings(), artifacts, say=said.append) == "unchanged"

    assert objects(session) == before
    assert "artifacts: all already uploaded" in said
    assert "stack blee-hist-retail: nothing to change" in said


def changed_script(artifacts, tmp_path: Path) -> list[deploy.Artifact]:  # type: ignore[no-untyped-def]
    script = tmp_path / f"{r.D2S_JOB}.py"
    script.write_text("# a new version of the script\n")
    changed = [a for a in artifacts if a.path.name != script.name]
    changed.append(deploy.Artifact(script, "scripts", template.job_script_parameter(r.JOBS[0])))
    return changed


def with_template_change(
    artifacts: list[deploy.Artifact], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[deploy.Artifact]:
    """The artifacts with a template whose schedule description changed.

    moto's change sets list a change only where the template differs (AWS also lists the
    resources whose parameter values changed), so a test that must see an update executed
    changes the template as well."""
    rendered = template.template()

    def changed() -> dict[str, object]:
        copy = json.loads(json.dumps(rendered))
        copy["Resources"]["DailySchedule"]["Properties"]["Description"] = "changed"
        return copy

    monkeypatch.setattr(template, "template", changed)
    (tmp_path / "t").mkdir()
    replaced = [a for a in artifacts if a.kind != "templates"]
    return [deploy.Artifact(deploy.build_template(tmp_path / "t"), "templates", None), *replaced]


def test_parameters_not_given_keep_their_deployed_values(  # type: ignore[no-untyped-def]
    session, artifacts, tmp_path, monkeypatch
) -> None:
    first = settings(
        source_connection="retail-rds",
        schedule="cron(30 15 * * ? *)",
        alert_email="oncall@example.com",
        lookback_days=5,
    )
    deploy.deploy(session, first, artifacts, say=quiet)
    before = stack_parameters(session)
    assert before["LookbackDays"] == "5"

    # a later deploy of new code, giving nothing but the prefix
    later = deploy.StackSettings("blee", BUCKET)
    new_code = with_template_change(changed_script(artifacts, tmp_path), tmp_path, monkeypatch)
    assert deploy.deploy(session, later, new_code, say=quiet) == "UPDATE_COMPLETE"

    after = stack_parameters(session)
    for kept in (
        "SourceConnection", "ScheduleExpression", "LakeBucket", "SourceSecretArn", "AlertEmail",
        "LookbackDays",
    ):  # fmt: skip
        assert after[kept] == before[kept], kept
    assert after["SourceConnection"] == "retail-rds"
    script_key = template.job_script_parameter(r.JOBS[0])
    assert after[script_key] != before[script_key]

    # an empty connection, given, removes it
    deploy.deploy(
        session, deploy.StackSettings("blee", BUCKET, source_connection=""), artifacts, say=quiet
    )
    assert stack_parameters(session)["SourceConnection"] == ""


def test_the_first_deploy_needs_the_lake_and_the_secret(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(deploy.DeployError, match=r"--source-secret-arn .* and --lake-bucket"):
        deploy.deploy(session, deploy.StackSettings("blee", BUCKET), artifacts, say=quiet)
    assert "blee-artifacts" not in [
        b["Name"] for b in session.client("s3").list_buckets()["Buckets"]
    ]


def test_a_missing_lake_bucket_stops_deploy_and_plan(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(deploy.DeployError, match="lake bucket nowhere-lake does not exist"):
        deploy.deploy(session, settings(lake_bucket="nowhere-lake"), artifacts, say=quiet)
    said: list[str] = []
    result = deploy.plan(session, settings(lake_bucket="nowhere-lake"), artifacts, say=said.append)
    assert result["problems"] == ["lake bucket nowhere-lake does not exist: create it first "
                                  "(README 'First deploy')"]  # fmt: skip
    assert "deploy would fail: lake bucket nowhere-lake does not exist" in " ".join(said)


def test_a_lake_bucket_in_another_region_is_refused(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    session.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="far-lake", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    with pytest.raises(deploy.DeployError, match="far-lake is in eu-west-1"):
        deploy.deploy(session, settings(lake_bucket="far-lake"), artifacts, say=quiet)


def test_plan_and_deploy_name_resources_made_outside_the_stack(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    glue = session.client("glue")
    glue.create_database(DatabaseInput={"Name": r.GLUE_DATABASE})
    glue.create_job(
        Name=r.D2S_JOB,
        Role="arn:aws:iam::123456789012:role/by-hand",
        Command={"Name": "glueetl", "ScriptLocation": "s3://lab/d2s.py"},
    )
    glue.create_crawler(
        Name=r.CRAWLERS["factdata_sales"].name,
        Role="arn:aws:iam::123456789012:role/by-hand",
        DatabaseName=r.GLUE_DATABASE,
        Targets={"S3Targets": [{"Path": "s3://lab/factdata/sales/"}]},
    )

    result = deploy.plan(session, settings(), artifacts, say=quiet)

    assert result["collisions"] == [
        ("Glue database", r.GLUE_DATABASE),
        ("Glue job", r.D2S_JOB),
        ("Glue crawler", r.CRAWLERS["factdata_sales"].name),
    ]
    assert "delete them" in result["problems"][0] and "IMPORT" in result["problems"][0]
    with pytest.raises(deploy.DeployError, match="Glue job jb_retail_factdata_d2s"):
        deploy.deploy(session, settings(), artifacts, say=quiet)
    assert not deploy.stack_exists(session.client("cloudformation"), "blee-hist-retail")


def test_resources_the_stack_owns_are_no_collision(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=quiet)
    # moto's CloudFormation creates the IAM roles but no Glue resources: the roles it made
    # exist and belong to the stack
    assert session.client("iam").get_role(RoleName=r.role_name("blee", "glue"))
    assert deploy.collisions(session, "blee") == []
    assert deploy.collisions(session, "other") == []


def test_plan_changes_nothing_and_says_what_deploy_would_do(session, artifacts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    said: list[str] = []
    first = deploy.plan(session, settings(), artifacts, say=said.append)
    assert len(first["upload"]) == len(artifacts) and not first["stack_exists"]
    assert first["problems"] == []
    assert any(line.startswith("stack blee-hist-retail does not exist") for line in said)
    cfn = session.client("cloudformation")
    assert not deploy.stack_exists(cfn, "blee-hist-retail")
    assert "blee-artifacts" not in [
        b["Name"] for b in session.client("s3").list_buckets()["Buckets"]
    ]

    deploy.deploy(session, settings(), artifacts, say=quiet)
    changed = changed_script(artifacts, tmp_path)
    before = objects(session)

    second = deploy.plan(session, settings(), changed, say=quiet)

    assert second["upload"] == [changed[-1].key("blee")]
    assert second["template_diff"] == []
    assert objects(session) == before


def test_plan_shows_a_template_change_as_a_diff(session, artifacts, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=quiet)
    rendered = template.render()
    monkeypatch.setattr(
        template,
        "render",
        lambda: rendered.replace('"RetentionInDays": 90,', '"RetentionInDays": 30,', 1),
    )

    result = deploy.plan(session, settings(), artifacts, say=quiet)

    changed = [line for line in result["template_diff"] if "RetentionInDays" in line]
    assert changed == ['-        "RetentionInDays": 90,', '+        "RetentionInDays": 30,']


@pytest.mark.parametrize(
    ("resource", "kind", "reason"),
    [
        ("CrRetailFactdataSales", "AWS::Glue::Crawler",
         "Service is unable to assume provided role. Please verify role's TrustPolicy"),
        ("DailyBatchStateMachine", "AWS::StepFunctions::StateMachine",
         "The state machine IAM Role is not authorized to access the Log Destination"),
    ],
    ids=["glue", "states"],
)  # fmt: skip
def test_a_role_its_service_cannot_use_yet_is_retried_once_saying_why(  # type: ignore[no-untyped-def]
    session, artifacts, monkeypatch, resource, kind, reason
) -> None:
    # AWS: a crawler or a logging state machine created right after its role can fail while IAM
    # propagates, and the first create rolls back. moto never does, so the first execution is
    # made to end that way.
    backend = cloudformation_backends[ACCOUNT][REGION]
    original = type(backend).execute_change_set
    calls = {"n": 0}

    def failing_once(self, change_set_name, stack_name=None):  # type: ignore[no-untyped-def]
        original(self, change_set_name, stack_name)
        calls["n"] += 1
        if calls["n"] == 1:
            stack = moto_stack()
            stack.events.append(
                Event(stack.stack_id, stack.name, resource, "", kind, "CREATE_FAILED", reason,
                      None)
            )  # fmt: skip
            stack._add_stack_event("ROLLBACK_IN_PROGRESS", "The following resource(s) failed")
            stack._add_stack_event("ROLLBACK_COMPLETE")
            stack.status = "ROLLBACK_COMPLETE"

    monkeypatch.setattr(type(backend), "execute_change_set", failing_once)
    monkeypatch.setattr(deploy.time, "sleep", lambda seconds: None)
    said: list[str] = []

    assert deploy.deploy(session, settings(), artifacts, say=said.append) == "CREATE_COMPLETE"

    assert calls["n"] == 2
    (retry,) = [line for line in said if "trying once more" in line]
    assert f"{resource}: {reason}" in retry
    assert "IAM role had not reached the service" in retry


def test_a_failure_that_is_not_iam_propagation_is_not_retried(
    session, artifacts, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    backend = cloudformation_backends[ACCOUNT][REGION]
    original = type(backend).execute_change_set

    def failing(self, change_set_name, stack_name=None):  # type: ignore[no-untyped-def]
        original(self, change_set_name, stack_name)
        stack = moto_stack()
        stack.events.append(
            Event(stack.stack_id, stack.name, "LakeDatabase", "", "AWS::Glue::Database",
                  "CREATE_FAILED", "hist-retail already exists", None)
        )  # fmt: skip
        stack.status = "ROLLBACK_COMPLETE"

    monkeypatch.setattr(type(backend), "execute_change_set", failing)

    with pytest.raises(deploy.DeployError) as failed:
        deploy.deploy(session, settings(), artifacts, say=quiet)
    assert "ended ROLLBACK_COMPLETE: LakeDatabase: hist-retail already exists" in str(failed.value)
    assert "make destroy" in str(failed.value)


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback --stack-name blee-hist-retail"),
        ("ROLLBACK_COMPLETE", "`make destroy`, then deploy again"),
        ("DELETE_FAILED", "`make destroy` again"),
    ],
)
def test_a_stuck_stack_is_named_with_what_to_do(
    session, artifacts, status: str, advice: str
) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=quiet)
    moto_stack().status = status

    with pytest.raises(deploy.DeployError) as stuck:
        deploy.deploy(session, settings(schedule="cron(0 17 * * ? *)"), artifacts, say=quiet)

    assert f"stack blee-hist-retail is {status}" in str(stuck.value)
    assert advice in str(stuck.value)


def test_deploy_needs_the_source_secret_on_the_first_deploy(capsys) -> None:  # type: ignore[no-untyped-def]
    with mock_aws():
        code = deploy.main(["deploy", "--prefix", "blee", "--region", REGION])
    assert code == 1
    assert "--source-secret-arn" in capsys.readouterr().err


def test_destroy_waits_for_the_stack_to_go_and_keeps_the_artifacts(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=quiet)
    said: list[str] = []

    deploy.destroy(session, "blee", say=said.append)

    assert said[-1] == "stack blee-hist-retail: deleted"
    assert not deploy.stack_exists(session.client("cloudformation"), "blee-hist-retail")
    assert len(objects(session)) == len(artifacts)
    deploy.destroy(session, "blee", say=said.append)  # a second destroy has nothing to do
    assert said[-1] == "stack blee-hist-retail does not exist"
    # and a deploy right after creates the stack anew
    assert deploy.deploy(session, settings(), artifacts, say=quiet) == "CREATE_COMPLETE"


def private_subnet(session) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """A VPC with one subnet of its own route table and no way out, and a Glue connection in it."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    session.client("glue").create_connection(
        ConnectionInput={
            "Name": "retail-rds",
            "ConnectionType": "NETWORK",
            "ConnectionProperties": {},
            "PhysicalConnectionRequirements": {"SubnetId": subnet, "AvailabilityZone": "x"},
        }
    )
    return vpc, subnet, table


def test_plan_names_what_the_connections_subnet_cannot_reach(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    vpc, subnet, table = private_subnet(session)
    ec2 = session.client("ec2")
    region = session.region_name
    ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{region}.s3", RouteTableIds=[table],
        VpcEndpointType="Gateway",
    )  # fmt: skip
    ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{region}.secretsmanager",
        VpcEndpointType="Interface", SubnetIds=[subnet], PrivateDnsEnabled=True,
    )  # fmt: skip
    said: list[str] = []

    result = deploy.plan(session, settings(source_connection="retail-rds"), artifacts, said.append)

    unreached = [line.split(" cannot reach ")[1].split(" (")[0] for line in result["network"]]
    assert unreached == ["Glue", "CloudWatch Logs"]
    assert (
        f"no NAT gateway route and no interface (private DNS) endpoint com.amazonaws.{region}.glue"
        in result["network"][0]
    )
    assert any(line.startswith(f"a night would fail: subnet {subnet} ({vpc})") for line in said)


def test_a_nat_route_reaches_everything(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    _, subnet, table = private_subnet(session)
    ec2 = session.client("ec2")
    nat = ec2.create_nat_gateway(SubnetId=subnet)["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)

    result = deploy.plan(session, settings(source_connection="retail-rds"), artifacts, quiet)

    assert result["network"] == []


def test_an_unknown_connection_is_said_not_raised(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    result = deploy.plan(session, settings(source_connection="nowhere"), artifacts, quiet)
    assert result["network"][0].startswith(
        "the network path of connection nowhere cannot be checked"
    )
