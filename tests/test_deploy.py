"""Deploy against moto: reproducible artifacts, content-hashed keys, idempotence, plan mode."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from orchestration import deploy, template
from orchestration import resources as r

SECRET = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:hist-retail-source"
BUCKET = "blee-artifacts"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> list[deploy.Artifact]:
    return deploy.build_artifacts(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def session(aws_env):  # type: ignore[no-untyped-def]
    with mock_aws():
        yield boto3.session.Session()


def settings() -> deploy.StackSettings:
    return deploy.StackSettings("blee", BUCKET, SECRET)


def objects(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listed}


def test_builds_are_reproducible(artifacts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    again = deploy.build_artifacts(tmp_path)
    assert [a.key("p") for a in again] == [a.key("p") for a in artifacts]
    names = sorted(a.path.name for a in artifacts)
    assert names == sorted(
        ["hist_retail_trigger.zip", "retail_etl-0.1.0-py3-none-any.whl"]
        + [f"{job.name}.py" for job in r.JOBS]
    )


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
         "print(trigger.extract_dates({'EXTRACT_DATE': '2015-01-05'}))"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(tmp_path / "retail_etl" / "__init__.py")
    assert "datetime.date(2015, 1, 5)" in done.stdout


def test_deploy_uploads_content_hashed_artifacts_and_creates_the_stack(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    assert deploy.deploy(session, settings(), artifacts, say=lambda line: None) == "CREATE_COMPLETE"

    s3 = session.client("s3")
    uploaded = objects(session)
    assert len(uploaded) == len(artifacts)
    for key in uploaded:
        prefix, kind, digest, _ = key.split("/")
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert (prefix, hashlib.sha256(body).hexdigest()[:16]) == ("blee", digest)
        assert kind in ("wheels", "lambda", "scripts")

    machines = session.client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["name"] for m in machines] == ["blee_hist_retail_dailybatch"]
    function = session.client("lambda").get_function(FunctionName="blee-hist-retail-dailybatch")
    assert (
        function["Configuration"]["Environment"]["Variables"]["STATE_MACHINE_ARN"]
        == (machines[0]["stateMachineArn"])
    )


def test_a_second_deploy_without_changes_changes_nothing(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=lambda line: None)
    before = objects(session)
    said: list[str] = []

    assert deploy.deploy(session, settings(), artifacts, say=said.append) == "unchanged"

    assert objects(session) == before
    assert "artifacts: all already uploaded" in said
    assert "stack blee-hist-retail: nothing to change" in said


def test_plan_changes_nothing_and_says_what_deploy_would_do(session, artifacts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    said: list[str] = []
    first = deploy.plan(session, settings(), artifacts, say=said.append)
    assert len(first["upload"]) == len(artifacts) and not first["stack_exists"]
    assert any(line.startswith("stack blee-hist-retail does not exist") for line in said)
    cfn = session.client("cloudformation")
    assert not deploy.stack_exists(cfn, "blee-hist-retail")
    assert "blee-artifacts" not in [
        b["Name"] for b in session.client("s3").list_buckets()["Buckets"]
    ]

    deploy.deploy(session, settings(), artifacts, say=lambda line: None)
    changed_script = tmp_path / f"{r.D2S_JOB}.py"
    changed_script.write_text("# a new version of the script\n")
    changed = [a for a in artifacts if a.path.name != changed_script.name]
    changed.append(
        deploy.Artifact(changed_script, "scripts", template.job_script_parameter(r.JOBS[0]))
    )
    before = objects(session)

    second = deploy.plan(session, settings(), changed, say=lambda line: None)

    assert second["upload"] == [changed[-1].key("blee")]
    assert second["template_diff"] == []
    assert objects(session) == before


def test_plan_shows_a_template_change_as_a_diff(session, artifacts, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=lambda line: None)
    rendered = template.render()
    monkeypatch.setattr(
        template,
        "render",
        lambda: rendered.replace('"RetentionInDays": 90', '"RetentionInDays": 30', 1),
    )

    result = deploy.plan(session, settings(), artifacts, say=lambda line: None)

    changed = [line for line in result["template_diff"] if "RetentionInDays" in line]
    assert changed == ['-        "RetentionInDays": 90', '+        "RetentionInDays": 30']


def test_deploy_needs_the_source_secret(capsys) -> None:  # type: ignore[no-untyped-def]
    assert deploy.main(["deploy", "--prefix", "blee", "--region", "ap-northeast-2"]) == 1
    assert "--source-secret-arn" in capsys.readouterr().err


def test_destroy_removes_the_stack_and_keeps_the_artifacts(session, artifacts) -> None:  # type: ignore[no-untyped-def]
    deploy.deploy(session, settings(), artifacts, say=lambda line: None)
    said: list[str] = []

    deploy.destroy(session, "blee", say=said.append)

    assert not deploy.stack_exists(session.client("cloudformation"), "blee-hist-retail")
    assert len(objects(session)) == len(artifacts)
    deploy.destroy(session, "blee", say=said.append)  # a second destroy has nothing to do
    assert said[-1] == "stack blee-hist-retail does not exist"
