"""The stack's three IAM roles, least privilege: every action named, every resource scoped
where AWS allows it, and a statement whose Sid ends in `CannotBeScoped` where it does not."""

from __future__ import annotations

from typing import Any

from orchestration import operations
from orchestration import resources as r
from orchestration.cfn import Json, ref, sub
from retail_etl import lake


def assume_role(service: str) -> Json:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def policy(name: str, *statements: Json) -> Json:
    return {
        "PolicyName": name,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
    }


def allow(sid: str, actions: list[str], resources: list[Any], **extra: Any) -> Json:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


GLUE_ARN = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
LOGS_ARN = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
STATES_ARN = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
# The lake's top-level folders the jobs write and the crawlers read, and the run records.
LAKE_PREFIXES = sorted({table.path.split("/", 1)[0] for table in lake.ALL_TABLES} | {"_audit"})
# What a job asks of the catalog (`retail_etl.catalogs.GlueCatalog`, as the rehearsal records
# it): the table, where its days are (BatchGetPartition: every publish, every s2s read of the
# raw days, every roll-forward), and the switch of days (create, update, delete).
JOB_CATALOG_ACTIONS = [
    "glue:GetTable",
    "glue:BatchGetPartition",
    "glue:BatchCreatePartition",
    "glue:BatchUpdatePartition",
    "glue:BatchDeletePartition",
]
# What a crawler asks besides (only with CatalogMode=crawlers).
CRAWLER_CATALOG_ACTIONS = [
    "glue:GetDatabase",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:CreatePartition",
    "glue:UpdatePartition",
]


def only_with_crawlers(statement: Json) -> Json:
    """A statement that exists only when the stack is deployed with CatalogMode=crawlers."""
    return {"Fn::If": ["UseCrawlers", statement, ref("AWS::NoValue")]}


def glue_role() -> Json:
    """The role of the three jobs and the six crawlers."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub(r.role_name("${Prefix}", "glue")),
            "Description": "Glue jobs and crawlers of hist-retail: the lake prefixes, the "
            "artifacts, the source secret, the hist-retail catalog and Glue's logs",
            "AssumeRolePolicyDocument": assume_role("glue.amazonaws.com"),
            "Policies": [
                policy(
                    "lake-and-artifacts",
                    # `factdata*`, not `factdata/*`: an S3 filesystem probes and writes keys
                    # beside a folder too. S3A on Glue 5.1 writes no `factdata_$folder$`
                    # marker (EMRFS did, and crawlers of folders EMRFS wrote still meet them),
                    # but it does probe and delete `factdata/` itself; the grant costs nothing
                    # outside the three prefixes. AbortMultipartUpload: S3A writes a file over
                    # fs.s3a.multipart.threshold (128 MB) in parts and aborts the upload of a
                    # write that fails, so no orphaned parts are left billed.
                    allow(
                        "LakeObjects",
                        [
                            "s3:GetObject",
                            "s3:PutObject",
                            "s3:DeleteObject",
                            "s3:AbortMultipartUpload",
                        ],
                        [
                            sub(f"arn:${{AWS::Partition}}:s3:::${{LakeBucket}}/{p}*")
                            for p in LAKE_PREFIXES
                        ],
                    ),
                    allow(
                        "LakeListing",
                        ["s3:ListBucket"],
                        [sub("arn:${AWS::Partition}:s3:::${LakeBucket}")],
                        Condition={"StringLike": {"s3:prefix": [f"{p}*" for p in LAKE_PREFIXES]}},
                    ),
                    # S3A lists a bucket's pending uploads to clean up after a failed write
                    # (and with fs.s3a.multipart.purge); S3 offers no prefix condition for it.
                    allow(
                        "LakeMultipartUploads",
                        ["s3:ListBucketMultipartUploads"],
                        [sub("arn:${AWS::Partition}:s3:::${LakeBucket}")],
                    ),
                    allow(
                        "LakeBucketLocation",
                        ["s3:GetBucketLocation"],
                        [sub("arn:${AWS::Partition}:s3:::${LakeBucket}")],
                    ),
                    allow(
                        "Artifacts",
                        ["s3:GetObject"],
                        [sub("arn:${AWS::Partition}:s3:::${ArtifactsBucket}/${Prefix}/*")],
                    ),
                ),
                policy(
                    "source-secret",
                    allow(
                        "SourceSecret", ["secretsmanager:GetSecretValue"], [ref("SourceSecretArn")]
                    ),
                    operations.source_secret_key_statement(),
                ),
                policy(
                    "catalog",
                    allow("HistRetailCatalog", JOB_CATALOG_ACTIONS, hist_retail_catalog()),
                    only_with_crawlers(
                        allow(
                            "HistRetailCatalogCrawlers",
                            CRAWLER_CATALOG_ACTIONS,
                            hist_retail_catalog(),
                        )
                    ),
                ),
                policy(
                    "kms",
                    operations.glue_kms_statement(),
                    operations.glue_log_key_statement(),
                ),
                policy(
                    "logs",
                    allow(
                        "GlueLogs",
                        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                        [
                            sub(f"{LOGS_ARN}:log-group:/aws-glue/*"),
                            sub(f"{LOGS_ARN}:log-group:/aws-glue/*:log-stream:*"),
                        ],
                    ),
                ),
            ],
        },
    }


def hist_retail_catalog() -> list[Json]:
    return [
        sub(f"{GLUE_ARN}:catalog"),
        sub(f"{GLUE_ARN}:database/{r.GLUE_DATABASE}"),
        sub(f"{GLUE_ARN}:table/{r.GLUE_DATABASE}/*"),
    ]


def glue_network_policy() -> Json:
    """Only with a SourceConnection: what a Glue job needs to put itself in the source's VPC."""
    return {
        "Type": "AWS::IAM::RolePolicy",
        "Condition": "HasSourceConnection",
        "Properties": {
            "RoleName": ref("GlueRole"),
            "PolicyName": "vpc-network",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    # AWS cannot scope these EC2 calls to a resource: Describe* calls take no
                    # resource, and the interface a job creates has no ARN yet.
                    allow(
                        "GlueConnectionNetworkCannotBeScoped",
                        [
                            "ec2:DescribeVpcEndpoints",
                            "ec2:DescribeRouteTables",
                            "ec2:DescribeSubnets",
                            "ec2:DescribeSecurityGroups",
                            "ec2:DescribeVpcAttribute",
                            "ec2:DescribeNetworkInterfaces",
                            "ec2:CreateNetworkInterface",
                            "ec2:DeleteNetworkInterface",
                            "ec2:CreateTags",
                            "ec2:DeleteTags",
                        ],
                        ["*"],
                    ),
                    allow(
                        "GlueConnection",
                        ["glue:GetConnection"],
                        [
                            sub(f"{GLUE_ARN}:catalog"),
                            sub(f"{GLUE_ARN}:connection/${{SourceConnection}}"),
                        ],
                    ),
                ],
            },
        },
        "Metadata": {
            "Comment": "The EC2 network actions (only with a SourceConnection) take Resource * "
            "because AWS offers no resource-level scoping for them."
        },
    }


def state_machine_role() -> Json:
    jobs = [sub(f"{GLUE_ARN}:job/{job.name}") for job in r.JOBS]
    crawlers = [sub(f"{GLUE_ARN}:crawler/{c.name}") for c in r.CRAWLERS.values()]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub(r.role_name("${Prefix}", "statemachine")),
            "Description": "The daily-batch state machine: run the three jobs, run and read the "
            "six crawlers, deliver its error logs",
            "AssumeRolePolicyDocument": assume_role("states.amazonaws.com"),
            "Policies": [
                policy(
                    "glue",
                    allow(
                        "GlueJobs",
                        [
                            "glue:StartJobRun",
                            "glue:GetJobRun",
                            "glue:GetJobRuns",
                            "glue:BatchStopJobRun",
                        ],
                        jobs,
                    ),
                    only_with_crawlers(
                        allow("GlueCrawlers", ["glue:StartCrawler", "glue:GetCrawler"], crawlers)
                    ),
                    # Is there anything to crawl? One ListObjectsV2 of the day's folder.
                    only_with_crawlers(
                        allow(
                            "LakeDayListing",
                            ["s3:ListBucket"],
                            [sub("arn:${AWS::Partition}:s3:::${LakeBucket}")],
                            Condition={
                                "StringLike": {
                                    "s3:prefix": [
                                        f"{c.table.path}/{lake.PARTITION_COLUMN}=*"
                                        for c in r.CRAWLERS.values()
                                    ]
                                }
                            },
                        )
                    ),
                ),
                policy(
                    "log-delivery",
                    # CloudWatch Logs delivery for Step Functions cannot be scoped to a
                    # resource: AWS documents these actions with Resource "*".
                    allow(
                        "LogDeliveryCannotBeScoped",
                        [
                            "logs:CreateLogDelivery",
                            "logs:GetLogDelivery",
                            "logs:UpdateLogDelivery",
                            "logs:DeleteLogDelivery",
                            "logs:ListLogDeliveries",
                            "logs:PutResourcePolicy",
                            "logs:DescribeResourcePolicies",
                            "logs:DescribeLogGroups",
                        ],
                        ["*"],
                    ),
                ),
            ],
        },
        "Metadata": {
            "Comment": "Log delivery actions take Resource * because AWS cannot scope them "
            "to a log group (Step Functions logging documentation)."
        },
    }


def trigger_role() -> Json:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub(r.role_name("${Prefix}", "trigger")),
            "Description": "The daily trigger Lambda: start the one state machine, write its logs",
            "AssumeRolePolicyDocument": assume_role("lambda.amazonaws.com"),
            "Policies": [
                policy(
                    "start-dailybatch",
                    allow(
                        "StartDailyBatch",
                        ["states:StartExecution"],
                        [ref("DailyBatchStateMachine")],
                    ),
                    # Tells "already running" from "started" before StartExecution, which
                    # answers a running execution's name and input with success.
                    allow(
                        "ReadDailyBatchExecutions",
                        ["states:DescribeExecution"],
                        [sub(f"{STATES_ARN}:execution:{r.state_machine_name('${Prefix}')}:*")],
                    ),
                    allow(
                        "OwnLogs",
                        ["logs:CreateLogStream", "logs:PutLogEvents"],
                        [sub("${TriggerLogGroup.Arn}")],
                    ),
                    # the on-failure destination of its asynchronous invocations
                    allow("AlertOnFailure", ["sns:Publish"], [ref("AlertTopic")]),
                    operations.if_kms(
                        allow(
                            "AlertTopicKey",
                            ["kms:Decrypt", "kms:GenerateDataKey"],
                            [ref("KmsKeyArn")],
                        )
                    ),
                ),
            ],
        },
    }
