"""The CloudFormation template of the whole cloud flow, generated from `resources`.

`python -m orchestration.template` (part of `make statemachine`) writes the checked-in template;
a test fails when it is stale, and `cfn-lint` checks it. Artifact locations are parameters, so
the template does not change when only code changes: `deploy` passes the content-hashed keys.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from orchestration import resources as r
from orchestration import statemachine

TEMPLATE_PATH = Path(__file__).resolve().parent / "cloudformation" / "hist_retail.template.json"

Json = dict[str, Any]


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def ref(name: str) -> Json:
    return {"Ref": name}


def arn(name: str) -> Json:
    return {"Fn::GetAtt": [name, "Arn"]}


def logical_id(name: str) -> str:
    """An alphanumeric logical id: jb_retail_factdata_d2s -> JbRetailFactdataD2s."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part)


def job_script_parameter(job: r.GlueJob) -> str:
    return f"{logical_id(job.name)}ScriptKey"


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


def parameters() -> Json:
    params: Json = {
        "Prefix": {
            "Type": "String",
            "AllowedPattern": "^[a-z][a-z0-9-]{0,19}$",
            "Description": "Names the state machine, the Lambda and the roles (e.g. your user id)",
        },
        "ArtifactsBucket": {
            "Type": "String",
            "Description": "Bucket holding job scripts, the retail_etl wheel and the Lambda code",
        },
        "WheelKey": {"Type": "String", "Description": "Key of the retail_etl wheel"},
        "TriggerCodeKey": {"Type": "String", "Description": "Key of the Lambda trigger's zip"},
        "LakeBucket": {
            "Type": "String",
            "Default": r.LAKE_BUCKET,
            "Description": "The data lake's bucket",
        },
        "SourceSecretArn": {
            "Type": "String",
            "Description": "Secrets Manager secret with the source database's host, port, "
            "dbname, username and password",
        },
        "SourceConnection": {
            "Type": "String",
            "Default": "",
            "Description": "Optional Glue connection giving d2s network access to the database",
        },
        "ScheduleExpression": {
            "Type": "String",
            "Default": r.DEFAULT_SCHEDULE,
            "Description": "When the daily batch starts (UTC); the default is 01:00 in Seoul",
        },
    }
    for job in r.JOBS:
        params[job_script_parameter(job)] = {
            "Type": "String",
            "Description": f"Key of the {job.name} script",
        }
    return params


def glue_role() -> Json:
    """The role of the three jobs and the six crawlers."""
    lake_prefixes = ["factdata", "silver"]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub("${Prefix}-hist-retail-glue"),
            "Description": "Glue jobs and crawlers of hist-retail: the lake prefixes, the "
            "artifacts, the source secret, the hist-retail catalog and Glue's logs",
            "AssumeRolePolicyDocument": assume_role("glue.amazonaws.com"),
            "Policies": [
                policy(
                    "lake-and-artifacts",
                    allow(
                        "LakeObjects",
                        ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                        [
                            sub(f"arn:${{AWS::Partition}}:s3:::${{LakeBucket}}/{p}/*")
                            for p in lake_prefixes
                        ],
                    ),
                    allow(
                        "LakeListing",
                        ["s3:ListBucket"],
                        [sub("arn:${AWS::Partition}:s3:::${LakeBucket}")],
                        Condition={
                            "StringLike": {
                                "s3:prefix": [f"{p}{s}" for p in lake_prefixes for s in ("", "/*")]
                            }
                        },
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
                ),
                policy(
                    "catalog",
                    allow(
                        "HistRetailCatalog",
                        [
                            "glue:GetDatabase",
                            "glue:GetTable",
                            "glue:GetTables",
                            "glue:CreateTable",
                            "glue:UpdateTable",
                            "glue:GetPartition",
                            "glue:GetPartitions",
                            "glue:BatchGetPartition",
                            "glue:CreatePartition",
                            "glue:BatchCreatePartition",
                            "glue:UpdatePartition",
                            "glue:BatchUpdatePartition",
                        ],
                        [
                            sub(f"{GLUE_ARN}:catalog"),
                            sub(f"{GLUE_ARN}:database/{r.GLUE_DATABASE}"),
                            sub(f"{GLUE_ARN}:table/{r.GLUE_DATABASE}/*"),
                        ],
                    ),
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
            "RoleName": sub("${Prefix}-hist-retail-statemachine"),
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
                    allow("GlueCrawlers", ["glue:StartCrawler", "glue:GetCrawler"], crawlers),
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
            "RoleName": sub("${Prefix}-hist-retail-trigger"),
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
                    allow(
                        "OwnLogs",
                        ["logs:CreateLogStream", "logs:PutLogEvents"],
                        [sub("${TriggerLogGroup.Arn}")],
                    ),
                ),
            ],
        },
    }


def glue_job(job: r.GlueJob) -> Json:
    arguments: Json = {
        "--job-language": "python",
        "--additional-python-modules": sub("s3://${ArtifactsBucket}/${WheelKey}"),
        "--LAKE_ROOT": sub("s3://${LakeBucket}"),
        "--enable-continuous-cloudwatch-log": "true",
        "--enable-glue-datacatalog": "true",
    }
    properties: Json = {
        "Name": job.name,
        "Description": job.description,
        "Role": arn("GlueRole"),
        "Command": {
            "Name": "glueetl",
            "PythonVersion": "3",
            "ScriptLocation": sub(f"s3://${{ArtifactsBucket}}/${{{job_script_parameter(job)}}}"),
        },
        "GlueVersion": r.GLUE_VERSION,
        "WorkerType": job.worker_type,
        "NumberOfWorkers": job.workers,
        "Timeout": job.timeout_minutes,
        "MaxRetries": 0,
        "ExecutionProperty": {"MaxConcurrentRuns": job.max_concurrent_runs},
        "DefaultArguments": arguments,
    }
    if job.needs_source:
        arguments["--SOURCE_SECRET_ID"] = ref("SourceSecretArn")
        properties["Connections"] = {
            "Fn::If": [
                "HasSourceConnection",
                {"Connections": [ref("SourceConnection")]},
                ref("AWS::NoValue"),
            ]
        }
    return {"Type": "AWS::Glue::Job", "Properties": properties}


def crawler(c: r.Crawler) -> Json:
    return {
        "Type": "AWS::Glue::Crawler",
        "Properties": {
            "Name": c.name,
            "Role": arn("GlueRole"),
            "DatabaseName": ref("LakeDatabase"),
            "TablePrefix": c.table_prefix,
            "Targets": {
                "S3Targets": [
                    {
                        "Path": sub(f"s3://${{LakeBucket}}/{c.table.path}/"),
                        "Exclusions": list(r.CRAWLER_EXCLUSIONS),
                    }
                ]
            },
            "RecrawlPolicy": {"RecrawlBehavior": r.CRAWLER_RECRAWL_BEHAVIOR},
            "SchemaChangePolicy": dict(r.CRAWLER_SCHEMA_CHANGE),
        },
    }


def template() -> Json:
    resources: Json = {
        "LakeDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {"Name": r.GLUE_DATABASE, "Description": "hist-retail data lake"},
            },
        },
        "GlueRole": glue_role(),
        "GlueNetworkPolicy": glue_network_policy(),
        **{logical_id(job.name): glue_job(job) for job in r.JOBS},
        **{logical_id(c.name): crawler(c) for c in r.CRAWLERS.values()},
        "StateMachineRole": state_machine_role(),
        "StateMachineLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/vendedlogs/states/${Prefix}_hist_retail_dailybatch"),
                "RetentionInDays": 90,
            },
        },
        "DailyBatchStateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": sub(r.state_machine_name("${Prefix}")),
                "StateMachineType": "STANDARD",
                "DefinitionString": statemachine.render_asl(),
                "RoleArn": arn("StateMachineRole"),
                "LoggingConfiguration": {
                    "Level": "ERROR",
                    "IncludeExecutionData": False,
                    "Destinations": [
                        {"CloudWatchLogsLogGroup": {"LogGroupArn": arn("StateMachineLogGroup")}}
                    ],
                },
            },
        },
        "TriggerLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub(f"/aws/lambda/{r.lambda_name('${Prefix}')}"),
                "RetentionInDays": 90,
            },
        },
        "TriggerRole": trigger_role(),
        "TriggerFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": sub(r.lambda_name("${Prefix}")),
                "Description": "Starts the hist-retail daily batch for a date (see trigger.py)",
                "Runtime": "python3.11",
                "Handler": "trigger.handler",
                "Code": {"S3Bucket": ref("ArtifactsBucket"), "S3Key": ref("TriggerCodeKey")},
                "Role": arn("TriggerRole"),
                "Timeout": 60,
                "MemorySize": 128,
                "LoggingConfig": {"LogGroup": ref("TriggerLogGroup")},
                "Environment": {"Variables": {"STATE_MACHINE_ARN": ref("DailyBatchStateMachine")}},
            },
        },
        "DailySchedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "Starts the hist-retail daily batch (default 01:00 Asia/Seoul)",
                "ScheduleExpression": ref("ScheduleExpression"),
                "State": "ENABLED",
                "Targets": [{"Id": "trigger", "Arn": arn("TriggerFunction")}],
            },
        },
        "DailySchedulePermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref("TriggerFunction"),
                "Principal": "events.amazonaws.com",
                "SourceArn": arn("DailySchedule"),
            },
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "hist-retail nightly ETL: Glue 5.1 jobs and crawlers, the daily-batch "
        "state machine, its Lambda trigger and schedule. Generated by orchestration/template.py.",
        "Parameters": parameters(),
        "Conditions": {
            "HasSourceConnection": {"Fn::Not": [{"Fn::Equals": [ref("SourceConnection"), ""]}]}
        },
        "Resources": resources,
        "Outputs": {
            "StateMachineArn": {"Value": ref("DailyBatchStateMachine")},
            "TriggerFunctionName": {"Value": ref("TriggerFunction")},
        },
    }


def render() -> str:
    return json.dumps(template(), indent=2) + "\n"


def main() -> None:
    TEMPLATE_PATH.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {TEMPLATE_PATH.relative_to(TEMPLATE_PATH.parents[2])}")


if __name__ == "__main__":
    main()
