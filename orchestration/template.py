"""The CloudFormation template of the whole cloud flow, generated from `resources`.

`python -m orchestration.template` (part of `make statemachine`) writes the checked-in template;
a test fails when it is stale, and `cfn-lint` checks it. Artifact locations are parameters, so
the template does not change when only code changes: `deploy` passes the content-hashed keys.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestration import iam, operations, statemachine
from orchestration import resources as r
from orchestration.cfn import Json, arn, logical_id, ref, sub
from retail_etl import contract, lake
from retail_etl.params import MAX_LOOKBACK_DAYS

TEMPLATE_PATH = Path(__file__).resolve().parent / "cloudformation" / "hist_retail.template.json"


def job_script_parameter(job: r.GlueJob) -> str:
    return f"{logical_id(job.name)}ScriptKey"


def parameters() -> Json:
    params: Json = {
        "Prefix": {
            "Type": "String",
            "AllowedPattern": r.PREFIX_PATTERN,
            "MaxLength": r.PREFIX_MAX_LENGTH,
            "ConstraintDescription": "lower-case letters, digits and single hyphens, starting "
            "with a letter, at most 20 characters",
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
            "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            "Description": "The data lake's bucket: an existing bucket of this account and "
            "region, not created or deleted by the stack",
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
        "CatalogMode": {
            "Type": "String",
            "Default": "tables",
            "AllowedValues": ["tables", "crawlers"],
            "Description": "tables: the jobs publish their days through the declared tables "
            "(no crawler); crawlers: the seed's flow, a crawl after each job",
        },
        "ScheduleExpression": {
            "Type": "String",
            "Default": r.DEFAULT_SCHEDULE,
            "Description": "When the daily batch starts (UTC); the default is 01:00 in Seoul",
        },
        "LookbackDays": {
            "Type": "Number",
            "Default": r.DEFAULT_LOOKBACK_DAYS,
            "MinValue": 0,
            "MaxValue": MAX_LOOKBACK_DAYS,
            "Description": "Days before each night's day that the night re-checks, restating "
            "those the source changed since they were published",
        },
    }
    params.update(operations.parameters())
    for job in r.JOBS:
        params[job_script_parameter(job)] = {
            "Type": "String",
            "Description": f"Key of the {job.name} script",
        }
    return params


def glue_job(job: r.GlueJob) -> Json:
    arguments: Json = {
        "--job-language": "python",
        "--additional-python-modules": sub("s3://${ArtifactsBucket}/${WheelKey}"),
        # The wheel has no dependencies, so pip needs no package index: with a source
        # connection and no internet it must not try one (and wait for it to time out).
        "--python-modules-installer-option": "--no-index",
        "--LAKE_ROOT": sub("s3://${LakeBucket}"),
        # No --enable-glue-datacatalog: the jobs read and write paths and call the catalog API
        # themselves, and Spark's Hive client would check (and try to create) database
        # `default`, which the role may not.
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
        "SecurityConfiguration": ref("GlueSecurityConfiguration"),
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


# A table as the lake writes it: Parquet files, Hive's Parquet formats, partitioned by day.
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    },
}


# The catalog is the only record of which run folder is a table's day: a deleted stack, or an
# update that replaces a table, must not take the partitions with it. Retained resources stay
# when the stack goes; a new stack adopts them by import (README, "First deploy").
RETAINED = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def table(spec: contract.TableContract) -> Json:
    """A catalog table declared from the contract's types: none is ever inferred."""
    return {
        "Type": "AWS::Glue::Table",
        **RETAINED,
        "Properties": {
            "CatalogId": ref("AWS::AccountId"),
            "DatabaseName": ref("LakeDatabase"),
            "TableInput": {
                "Name": spec.table.name,
                "Description": f"{spec.table.name}: see DESIGN.md's lake contract",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
                "PartitionKeys": [{"Name": lake.PARTITION_COLUMN, "Type": "string"}],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": t} for n, t in spec.columns],
                    "Location": sub(f"s3://${{LakeBucket}}/{spec.table.path}/"),
                    **PARQUET,
                },
            },
        },
    }


def crawler(c: r.Crawler) -> Json:
    return {
        "Type": "AWS::Glue::Crawler",
        "Condition": "UseCrawlers",
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
            "CrawlerSecurityConfiguration": ref("GlueSecurityConfiguration"),
            "SchemaChangePolicy": dict(r.CRAWLER_SCHEMA_CHANGE),
        },
    }


def template() -> Json:
    resources: Json = {
        "LakeDatabase": {
            "Type": "AWS::Glue::Database",
            **RETAINED,
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {"Name": r.GLUE_DATABASE, "Description": "hist-retail data lake"},
            },
        },
        "GlueRole": iam.glue_role(),
        "GlueSecurityConfiguration": {
            **operations.security_configuration(),
            "Metadata": operations.SECURITY_CONFIGURATION_SKIPS,
        },
        "GlueNetworkPolicy": iam.glue_network_policy(),
        **{logical_id(job.name): glue_job(job) for job in r.JOBS},
        **{
            f"{logical_id(spec.table.name)}Table": table(spec)
            for spec in contract.CONTRACTS.values()
        },
        **{logical_id(c.name): crawler(c) for c in r.CRAWLERS.values()},
        "StateMachineRole": iam.state_machine_role(),
        "StateMachineLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub("/aws/vendedlogs/states/${Prefix}_hist_retail_dailybatch"),
                "RetentionInDays": 90,
                "KmsKeyId": operations.if_kms(ref("KmsKeyArn")),
            },
            "Metadata": operations.LOG_GROUP_SKIPS,
        },
        "DailyBatchStateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": sub(r.state_machine_name("${Prefix}")),
                "StateMachineType": "STANDARD",
                "DefinitionString": {
                    "Fn::If": [
                        "UseCrawlers",
                        statemachine.render_asl(crawlers=True),
                        statemachine.render_asl(),
                    ]
                },
                "DefinitionSubstitutions": {
                    name: ref(parameter) for name, parameter in statemachine.SUBSTITUTIONS.items()
                },
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
                "KmsKeyId": operations.if_kms(ref("KmsKeyArn")),
            },
            "Metadata": operations.LOG_GROUP_SKIPS,
        },
        "TriggerRole": iam.trigger_role(),
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
                "Environment": {
                    "Variables": {
                        "STATE_MACHINE_ARN": ref("DailyBatchStateMachine"),
                        "LOOKBACK_DAYS": ref("LookbackDays"),
                    }
                },
                **operations.trigger_function_extras(),
            },
            "Metadata": operations.TRIGGER_FUNCTION_SKIPS,
        },
        **operations.alert_resources(),
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
            "HasSourceConnection": {"Fn::Not": [{"Fn::Equals": [ref("SourceConnection"), ""]}]},
            "UseCrawlers": {"Fn::Equals": [ref("CatalogMode"), "crawlers"]},
            **operations.conditions(),
        },
        "Resources": resources,
        "Outputs": {
            "StateMachineArn": {"Value": ref("DailyBatchStateMachine")},
            "TriggerFunctionName": {"Value": ref("TriggerFunction")},
            "AlertTopicArn": {"Value": ref("AlertTopic")},
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
