"""The CloudFormation template: current, cfn-lint clean, and its IAM least-privilege."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestration import resources as r
from orchestration import template

T = template.template()
RESOURCES = T["Resources"]


def statements(role: str) -> list[dict[str, Any]]:
    found = []
    for p in RESOURCES[role]["Properties"]["Policies"]:
        found += p["PolicyDocument"]["Statement"]
    for resource in RESOURCES.values():  # policies attached to the role on their own
        if resource["Type"] == "AWS::IAM::RolePolicy" and resource["Properties"]["RoleName"] == {
            "Ref": role
        }:
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return found


def roles() -> list[str]:
    return [name for name, res in RESOURCES.items() if res["Type"] == "AWS::IAM::Role"]


def test_checked_in_template_is_current() -> None:
    assert template.TEMPLATE_PATH.read_text() == template.render(), "run `make statemachine`"


def test_cfn_lint_reports_nothing() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run(
        [str(cfn_lint), str(template.TEMPLATE_PATH)], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_three_roles_no_managed_policies_no_wildcard_actions() -> None:
    assert sorted(roles()) == ["GlueRole", "StateMachineRole", "TriggerRole"]
    for role in roles():
        assert "ManagedPolicyArns" not in RESOURCES[role]["Properties"]
        for statement in statements(role):
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                assert "*" not in action, (role, action)


def test_resource_star_only_where_aws_cannot_scope_and_said_so() -> None:
    holders = {
        name: res
        for name, res in RESOURCES.items()
        if res["Type"] in ("AWS::IAM::Role", "AWS::IAM::RolePolicy")
    }
    for name, res in holders.items():
        documents = [p["PolicyDocument"] for p in res["Properties"].get("Policies", [])]
        if "PolicyDocument" in res["Properties"]:
            documents.append(res["Properties"]["PolicyDocument"])
        for statement in (s for d in documents for s in d["Statement"]):
            if "*" in statement["Resource"]:
                assert statement["Sid"].endswith("CannotBeScoped"), (name, statement["Sid"])
                assert "Resource *" in res["Metadata"]["Comment"], name


def by_sid(role: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(role)}


def sub_values(resources: list[Any]) -> list[str]:
    return [
        res["Fn::Sub"] if isinstance(res, dict) and "Fn::Sub" in res else res for res in resources
    ]


def test_state_machine_role_reaches_exactly_the_jobs_and_crawlers() -> None:
    sids = by_sid("StateMachineRole")
    assert sorted(sids["GlueJobs"]["Action"]) == [
        "glue:BatchStopJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:StartJobRun",
    ]  # fmt: skip
    assert sorted(v.rsplit("/", 1)[1] for v in sub_values(sids["GlueJobs"]["Resource"])) == sorted(
        job.name for job in r.JOBS
    )
    assert sorted(sids["GlueCrawlers"]["Action"]) == ["glue:GetCrawler", "glue:StartCrawler"]
    assert sorted(
        v.rsplit("/", 1)[1] for v in sub_values(sids["GlueCrawlers"]["Resource"])
    ) == sorted(c.name for c in r.CRAWLERS.values())
    assert set(sids) == {"GlueJobs", "GlueCrawlers", "LogDeliveryCannotBeScoped"}


def test_trigger_role_starts_only_the_one_state_machine() -> None:
    sids = by_sid("TriggerRole")
    assert sids["StartDailyBatch"]["Action"] == ["states:StartExecution"]
    assert sids["StartDailyBatch"]["Resource"] == [{"Ref": "DailyBatchStateMachine"}]
    assert sids["OwnLogs"]["Resource"] == [{"Fn::Sub": "${TriggerLogGroup.Arn}"}]
    assert set(sids) == {"StartDailyBatch", "OwnLogs"}


def test_glue_role_reaches_the_lake_prefixes_artifacts_secret_and_catalog() -> None:
    sids = by_sid("GlueRole")
    assert sub_values(sids["LakeObjects"]["Resource"]) == [
        "arn:${AWS::Partition}:s3:::${LakeBucket}/factdata/*",
        "arn:${AWS::Partition}:s3:::${LakeBucket}/silver/*",
    ]
    assert sub_values(sids["Artifacts"]["Resource"]) == [
        "arn:${AWS::Partition}:s3:::${ArtifactsBucket}/${Prefix}/*"
    ]
    assert sids["Artifacts"]["Action"] == ["s3:GetObject"]
    assert sids["SourceSecret"] == {
        "Sid": "SourceSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [{"Ref": "SourceSecretArn"}],
    }
    catalog = sub_values(sids["HistRetailCatalog"]["Resource"])
    assert all(
        v.endswith((":catalog", "database/hist-retail", "table/hist-retail/*")) for v in catalog
    )
    assert not any(a.startswith("glue:Delete") for a in sids["HistRetailCatalog"]["Action"])


@pytest.mark.parametrize("job", r.JOBS, ids=lambda j: j.name)
def test_jobs_run_glue_5_1_with_the_wheel(job: r.GlueJob) -> None:
    properties = RESOURCES[template.logical_id(job.name)]["Properties"]
    assert properties["Name"] == job.name
    assert properties["GlueVersion"] == "5.1"
    assert (properties["WorkerType"], properties["NumberOfWorkers"]) == (
        job.worker_type,
        job.workers,
    )
    arguments = properties["DefaultArguments"]
    assert arguments["--additional-python-modules"] == {
        "Fn::Sub": "s3://${ArtifactsBucket}/${WheelKey}"
    }
    assert ("--SOURCE_SECRET_ID" in arguments) == (job.name == r.D2S_JOB)


def test_crawlers_keep_the_console_settings() -> None:
    crawlers = {
        res["Properties"]["Name"]: res["Properties"]
        for res in RESOURCES.values()
        if res["Type"] == "AWS::Glue::Crawler"
    }
    assert sorted(crawlers) == sorted(c.name for c in r.CRAWLERS.values())
    for table, crawler in r.CRAWLERS.items():
        properties = crawlers[crawler.name]
        assert properties["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
        assert properties["SchemaChangePolicy"] == {
            "UpdateBehavior": "LOG",
            "DeleteBehavior": "LOG",
        }
        (target,) = properties["Targets"]["S3Targets"]
        assert target["Exclusions"] == ["**/_temporary/**"]
        # Glue names the table after the last folder; prefix + folder is the catalog name
        folder = target["Path"]["Fn::Sub"].rstrip("/").rsplit("/", 1)[1]
        assert properties["TablePrefix"] + folder == table


def test_state_machine_is_standard_logs_errors_and_embeds_the_checked_in_definition() -> None:
    properties = RESOURCES["DailyBatchStateMachine"]["Properties"]
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["LoggingConfiguration"]["Level"] == "ERROR"
    from orchestration import statemachine

    assert properties["DefinitionString"] == statemachine.ASL_PATH.read_text()
    function = RESOURCES["TriggerFunction"]["Properties"]
    assert function["Runtime"] == "python3.11"
    assert function["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {
        "Ref": "DailyBatchStateMachine"
    }
