"""The CloudFormation template: current, cfn-lint clean, and its IAM least-privilege."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestration import resources as r
from orchestration import template
from orchestration.rehearsal.authorization import Account
from orchestration.rehearsal.policy import Request, evaluate
from orchestration.rehearsal.stack import ResolvedStack

T = template.template()
RESOURCES = T["Resources"]


def deployed(items: list[Any], crawlers: bool, kms: bool = False) -> list[dict[str, Any]]:
    """Statements as CloudFormation resolves them for CatalogMode tables or crawlers, with or
    without a KMS key."""
    found = []
    for item in items:
        if "Fn::If" in item:
            condition, then, otherwise = item["Fn::If"]
            assert condition in ("UseCrawlers", "HasKmsKey", "HasSourceSecretKey")
            assert otherwise == {"Ref": "AWS::NoValue"}
            if {"UseCrawlers": crawlers, "HasKmsKey": kms, "HasSourceSecretKey": kms}[condition]:
                found.append(then)
        else:
            found.append(item)
    return found


def statements(role: str, crawlers: bool = False, kms: bool = False) -> list[dict[str, Any]]:
    found = []
    for p in RESOURCES[role]["Properties"]["Policies"]:
        found += deployed(p["PolicyDocument"]["Statement"], crawlers, kms)
    for resource in RESOURCES.values():  # policies attached to the role on their own
        if resource["Type"] == "AWS::IAM::RolePolicy" and resource["Properties"]["RoleName"] == {
            "Ref": role
        }:
            found += deployed(resource["Properties"]["PolicyDocument"]["Statement"], crawlers, kms)
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
        for statement in statements(role, crawlers=True, kms=True):
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
        for statement in (s for d in documents for s in deployed(d["Statement"], True, True)):
            if "*" in statement["Resource"]:
                assert statement["Sid"].endswith("CannotBeScoped"), (name, statement["Sid"])
                assert "Resource *" in res["Metadata"]["Comment"], name


def by_sid(role: str, crawlers: bool = False) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(role, crawlers)}


def sub_values(resources: list[Any]) -> list[str]:
    return [
        res["Fn::Sub"] if isinstance(res, dict) and "Fn::Sub" in res else res for res in resources
    ]


def test_state_machine_role_reaches_only_the_jobs_by_default() -> None:
    sids = by_sid("StateMachineRole")
    assert set(sids) == {"GlueJobs", "LogDeliveryCannotBeScoped"}


def test_state_machine_role_reaches_exactly_the_jobs_and_crawlers_with_crawlers() -> None:
    sids = by_sid("StateMachineRole", crawlers=True)
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
    listing = sids["LakeDayListing"]
    assert listing["Action"] == ["s3:ListBucket"]
    assert sub_values(listing["Resource"]) == ["arn:${AWS::Partition}:s3:::${LakeBucket}"]
    assert sorted(listing["Condition"]["StringLike"]["s3:prefix"]) == sorted(
        f"{c.table.path}/extract_date=*" for c in r.CRAWLERS.values()
    )
    assert set(sids) == {
        "GlueJobs", "GlueCrawlers", "LakeDayListing", "LogDeliveryCannotBeScoped",
    }  # fmt: skip


def test_trigger_role_starts_only_the_one_state_machine() -> None:
    sids = by_sid("TriggerRole")
    assert sids["StartDailyBatch"]["Action"] == ["states:StartExecution"]
    assert sids["StartDailyBatch"]["Resource"] == [{"Ref": "DailyBatchStateMachine"}]
    assert sids["OwnLogs"]["Resource"] == [{"Fn::Sub": "${TriggerLogGroup.Arn}"}]
    assert sids["ReadDailyBatchExecutions"]["Action"] == ["states:DescribeExecution"]
    assert sub_values(sids["ReadDailyBatchExecutions"]["Resource"]) == [
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
        "${Prefix}_hist_retail_dailybatch:*"
    ]
    assert set(sids) == {"StartDailyBatch", "ReadDailyBatchExecutions", "OwnLogs", "AlertOnFailure"}


def test_glue_role_reaches_the_lake_prefixes_artifacts_secret_and_catalog() -> None:
    sids = by_sid("GlueRole")
    assert sub_values(sids["LakeObjects"]["Resource"]) == [
        "arn:${AWS::Partition}:s3:::${LakeBucket}/_audit*",  # the run records
        "arn:${AWS::Partition}:s3:::${LakeBucket}/factdata*",
        "arn:${AWS::Partition}:s3:::${LakeBucket}/silver*",
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
    # which catalog calls the jobs make is the rehearsal's to say (tests/test_rehearsal.py)
    assert "HistRetailCatalogCrawlers" not in sids
    with_crawlers = by_sid("GlueRole", crawlers=True)["HistRetailCatalogCrawlers"]["Action"]
    assert "glue:CreateTable" in with_crawlers
    assert not any(a.startswith("glue:Delete") for a in with_crawlers)


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
    # no package index is asked for the wheel (it has no dependencies): a job in a VPC without
    # internet would otherwise wait for PyPI
    assert arguments["--python-modules-installer-option"] == "--no-index"
    assert ("--SOURCE_SECRET_ID" in arguments) == (job.name == r.D2S_JOB)
    # The Hive client of --enable-glue-datacatalog needs database `default`; the continuous
    # log flag belongs to Glue 4.0 and earlier.
    assert "--enable-glue-datacatalog" not in arguments
    assert "--enable-continuous-cloudwatch-log" not in arguments


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
        assert target["Exclusions"] == ["**/_temporary/**", "**/.spark-staging*/**", "**_$folder$"]
        # Glue names the table after the last folder; prefix + folder is the catalog name
        folder = target["Path"]["Fn::Sub"].rstrip("/").rsplit("/", 1)[1]
        assert properties["TablePrefix"] + folder == table


def test_state_machine_is_standard_logs_errors_and_embeds_the_checked_in_definition() -> None:
    properties = RESOURCES["DailyBatchStateMachine"]["Properties"]
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["LoggingConfiguration"]["Level"] == "ERROR"
    from orchestration import statemachine

    condition, crawlers, default = properties["DefinitionString"]["Fn::If"]
    assert condition == "UseCrawlers"
    assert default == statemachine.ASL_PATH.read_text()
    assert crawlers == statemachine.CRAWLERS_ASL_PATH.read_text()
    assert properties["DefinitionSubstitutions"] == {"LakeBucket": {"Ref": "LakeBucket"}}
    assert "${LakeBucket}" in crawlers
    function = RESOURCES["TriggerFunction"]["Properties"]
    assert function["Runtime"] == "python3.11"
    assert function["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {
        "Ref": "DailyBatchStateMachine"
    }


# The template resolved as CloudFormation would for a lake bucket named `lake`.
LAKE_STACK = ResolvedStack(
    Account("123456789012", "ap-northeast-2"),
    {"Prefix": "t", "LakeBucket": "lake", "ArtifactsBucket": "art", "SourceSecretArn": "arn:s"},
    T,
)


def allows(role: str, action: str, arn: str, prefix: str | None = None) -> bool:
    """Whether `role`'s statements allow `action` on `arn`, as IAM evaluates them (the
    rehearsal's evaluator, tests/test_policy.py), a listing carrying its `s3:prefix`."""
    context = {} if prefix is None else {"s3:prefix": prefix}
    return evaluate(LAKE_STACK.role_statements(role), Request(action, arn, context)).allowed


@pytest.mark.parametrize(
    "key",
    [
        "factdata_$folder$",  # the marker key an S3 filesystem writes beside a folder
        "factdata/",
        "factdata/balju_$folder$",
        "factdata/balju/extract_date=2015-01-05/part-00000.snappy.parquet",
        "silver_$folder$",
        "silver/dailysales_item/extract_date=2015-01-05_$folder$",
    ],
)
def test_glue_role_writes_every_key_the_s3_filesystem_writes(key: str) -> None:
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows("GlueRole", action, f"arn:aws:s3:::lake/{key}"), (action, key)


def test_glue_role_lists_and_locates_the_lake_and_nothing_else() -> None:
    bucket = "arn:aws:s3:::lake"
    for prefix in ("factdata", "factdata/", "factdata/sales/_runs/", "silver", "_audit/runs/"):
        assert allows("GlueRole", "s3:ListBucket", bucket, prefix), prefix
    assert not allows("GlueRole", "s3:ListBucket", bucket, "")  # not the whole bucket
    assert not allows("GlueRole", "s3:ListBucket", bucket, "_private/")
    assert allows("GlueRole", "s3:GetBucketLocation", bucket)
    assert not allows("GlueRole", "s3:PutObject", "arn:aws:s3:::lake/_private/x")
    assert allows("GlueRole", "s3:PutObject", "arn:aws:s3:::lake/_audit/runs/r.job.json")
    assert not allows("GlueRole", "s3:PutObject", "arn:aws:s3:::other/factdata/x")


def test_glue_role_may_clean_up_what_s3a_leaves_of_a_failed_large_write() -> None:
    """S3A writes a file over its multipart threshold in parts and, when the write fails,
    aborts the upload and lists the bucket's pending ones; without both grants the parts of a
    killed write would stay, billed and invisible."""
    key = "arn:aws:s3:::lake/factdata/sales/_runs/r/extract_date=2015-01-05/part-0.parquet"
    assert allows("GlueRole", "s3:AbortMultipartUpload", key)
    assert allows("GlueRole", "s3:ListBucketMultipartUploads", "arn:aws:s3:::lake")
    assert not allows("GlueRole", "s3:AbortMultipartUpload", "arn:aws:s3:::lake/_private/x")


def test_a_secret_under_a_customer_managed_key_may_be_decrypted_through_secrets_manager() -> None:
    key = "arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd"
    with_key = ResolvedStack(
        LAKE_STACK.account, {**LAKE_STACK.parameters, "SourceSecretKmsKeyArn": key}, T
    ).role_statements("GlueRole")
    via = {"kms:ViaService": "secretsmanager.ap-northeast-2.amazonaws.com"}
    assert evaluate(with_key, Request("kms:Decrypt", key, via))
    assert not evaluate(with_key, Request("kms:Decrypt", key))  # not outside Secrets Manager
    assert not evaluate(with_key, Request("kms:Decrypt", key + "-other", via))
    # without the setting there is no such grant at all
    assert not evaluate(LAKE_STACK.role_statements("GlueRole"), Request("kms:Decrypt", key, via))


def test_the_catalog_outlives_the_stack() -> None:
    """`make destroy`, or an update that replaces a table, leaves the database, the tables and
    so their partitions (which run folder is each day)."""
    catalog = {
        n: res for n, res in RESOURCES.items() if res["Type"].startswith("AWS::Glue::Database")
    }
    catalog |= {n: res for n, res in RESOURCES.items() if res["Type"] == "AWS::Glue::Table"}
    assert len(catalog) == 7
    for name, resource in catalog.items():
        assert resource["DeletionPolicy"] == "Retain", name
        assert resource["UpdateReplacePolicy"] == "Retain", name


def test_prefix_parameter_accepts_exactly_what_deploy_accepts() -> None:
    parameter = T["Parameters"]["Prefix"]
    assert (parameter["AllowedPattern"], parameter["MaxLength"]) == (r.PREFIX_PATTERN, 20)
    for good in ("blee", "a", "team-7-etl", "a" * 20):
        assert re.fullmatch(parameter["AllowedPattern"], good), good
        assert r.check_prefix(good) == good
    for bad in ("Blee", "7eleven", "a--b", "blee-", "-blee", "xn--blee", "sthree-x", "a_b"):
        assert not re.fullmatch(parameter["AllowedPattern"], bad), bad
        with pytest.raises(r.InvalidName) as refused:
            r.check_prefix(bad)
        assert str(refused.value) == (
            f"prefix '{bad}' is not 1-20 lower-case letters, digits and single hyphens starting "
            "with a letter (and not starting with sthree- or amzn-s3-demo-)"
        )
    with pytest.raises(r.InvalidName):
        r.check_prefix("a" * 21)


def test_lake_bucket_has_no_default_it_must_be_given() -> None:
    assert "Default" not in T["Parameters"]["LakeBucket"]
    assert "Default" not in T["Parameters"]["SourceSecretArn"]


def test_every_name_made_from_the_prefix_has_its_aws_limit() -> None:
    # CreateStack 128, CreateStateMachine 80, CreateFunction 64, CreateRole 64
    assert r.name_limits("blee") == {
        "stack": ("blee-hist-retail", 128),
        "state machine": ("blee_hist_retail_dailybatch", 80),
        "Lambda function": ("blee-hist-retail-dailybatch", 64),
        "IAM role (glue)": ("blee-hist-retail-glue", 64),
        "IAM role (statemachine)": ("blee-hist-retail-statemachine", 64),
        "IAM role (trigger)": ("blee-hist-retail-trigger", 64),
    }


def test_a_derived_name_over_its_limit_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # The prefix pattern keeps today's names short; a longer name pattern must still be caught.
    monkeypatch.setattr(r, "lambda_name", lambda prefix: f"{prefix}-" + "x" * 60)
    with pytest.raises(
        r.InvalidName, match=r"^Lambda function name 'blee-x+' is over 64 characters$"
    ):
        r.check_prefix("blee")
    monkeypatch.setattr(r, "lambda_name", lambda prefix: "x" * 64)
    assert r.check_prefix("blee") == "blee"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        (
            "ab",
            "is not 3-63 lower-case letters, digits, dots and hyphens starting and ending "
            "with a letter or digit",
        ),
        ("a" * 64, "is not 3-63"),
        ("My-lake", "is not 3-63"),
        ("lake-", "is not 3-63"),
        ("-lake", "is not 3-63"),
        ("lake_1", "is not 3-63"),
        ("my..lake", "adjacent dots"),
        ("192.168.5.4", "IP address"),
        ("xn--lake", "reserves"),
        ("sthree-lake", "reserves"),
        ("amzn-s3-demo-lake", "reserves"),
        ("lake-s3alias", "reserves"),
        ("lake--ol-s3", "reserves"),
        ("lake.mrap", "reserves"),
        ("lake--x-s3", "reserves"),
        ("lake--table-s3", "reserves"),
    ],
)
def test_bucket_names_s3_refuses_are_refused(name: str, rule: str) -> None:
    with pytest.raises(r.InvalidName, match=f"^bucket name '{re.escape(name)}' .*{rule}"):
        r.check_bucket_name(name)


def test_bucket_names_s3_accepts_are_accepted() -> None:
    for name in ("abc", "a" * 63, "my.hist-retail.lake", "7-eleven-lake", "lake2"):
        assert r.check_bucket_name(name) == name


def test_the_six_tables_are_declared_from_the_contract() -> None:
    declared = {
        res["Properties"]["TableInput"]["Name"]: res["Properties"]["TableInput"]
        for res in RESOURCES.values()
        if res["Type"] == "AWS::Glue::Table"
    }
    assert sorted(declared) == sorted(
        ["factdata_balju", "factdata_sales", "silver_dailybalju", "silver_dailysales_item",
         "silver_dailysales_store", "silver_dailysales_hourly"]
    )  # fmt: skip
    sales = declared["factdata_sales"]
    assert sales["PartitionKeys"] == [{"Name": "extract_date", "Type": "string"}]
    columns = {c["Name"]: c["Type"] for c in sales["StorageDescriptor"]["Columns"]}
    # DESIGN.md: sale_id bigint, qty int, money numeric(12,2) kept decimal, sold_at timestamp
    assert (columns["sale_id"], columns["qty"], columns["unit_price"], columns["sold_at"]) == (
        "bigint", "int", "decimal(12,2)", "timestamp",
    )  # fmt: skip
    assert sales["StorageDescriptor"]["Location"] == {
        "Fn::Sub": "s3://${LakeBucket}/factdata/sales/"
    }
    assert "ParquetHiveSerDe" in sales["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]


def test_crawlers_exist_only_with_the_crawler_option() -> None:
    crawlers = [res for res in RESOURCES.values() if res["Type"] == "AWS::Glue::Crawler"]
    assert len(crawlers) == 6 and all(c["Condition"] == "UseCrawlers" for c in crawlers)
    assert T["Parameters"]["CatalogMode"]["Default"] == "tables"
    assert T["Conditions"]["UseCrawlers"] == {"Fn::Equals": [{"Ref": "CatalogMode"}, "crawlers"]}
