"""What makes the stack operable: someone hears when a night fails, and what it writes is
encrypted. Resources the template adds to the flow's own:

- the alert topic (`{prefix}-hist-retail-alerts`, an optional e-mail subscription);
- an EventBridge rule on this state machine's executions ending FAILED, TIMED_OUT or ABORTED,
  whose input transformer turns the event into a message a person can act on;
- the trigger Lambda's asynchronous invocations: 2 retries, then its on-failure destination on
  the topic (a night the Lambda could not start is not silent);
- an alarm on no successful execution for 26 hours (missing data breaches), to the topic;
- a Glue security configuration for every job and crawler: SSE-S3 for what they write, or
  SSE-KMS, and CloudWatch and bookmark encryption, when a KMS key is given.
"""

from __future__ import annotations

from typing import Any

from orchestration.cfn import Json, arn, ref, sub

FAILED_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"]
# The alarm: hourly sums of ExecutionsSucceeded; 26 hours without one (the nightly run plus a
# margin for a late start) is a skipped night. Period x periods stays within CloudWatch's 7 days.
NO_SUCCESS_PERIOD = 3600
NO_SUCCESS_PERIODS = 26
TRIGGER_RETRIES = 2

# What the failure message is made of: the Step Functions "Execution Status Change" event.
MESSAGE_PATHS = {
    "status": "$.detail.status",
    "name": "$.detail.name",
    "input": "$.detail.input",
    "error": "$.detail.error",
    "cause": "$.detail.cause",
    "execution": "$.detail.executionArn",
    "region": "$.region",
    "time": "$.time",
}
MESSAGE_TEMPLATE = (
    "hist-retail daily batch <status>: execution <name> at <time>. Input (day or range): "
    "<input>. Error: <error>. Cause (each failed branch, its step first): <cause>. Console: "
    "https://<region>.console.aws.amazon.com/states/home?region=<region>"
    "#/v2/executions/details/<execution>"
)


def checkov_skip(*skips: tuple[str, str]) -> Json:
    """Template metadata that suppresses checkov findings, each with the reason a reviewer
    reads next to it."""
    return {"checkov": {"skip": [{"id": check, "comment": reason} for check, reason in skips]}}


def if_kms(value: Any, otherwise: Any = None) -> Json:
    return {"Fn::If": ["HasKmsKey", value, ref("AWS::NoValue") if otherwise is None else otherwise]}


def parameters() -> Json:
    return {
        "AlertEmail": {
            "Type": "String",
            "Default": "",
            "Description": "Optional e-mail address subscribed to the alert topic",
        },
        "KmsKeyArn": {
            "Type": "String",
            "Default": "",
            "Description": "Optional KMS key for the lake writes, job logs, bookmarks, log "
            "groups and the alert topic (SSE-S3 and service defaults without one)",
        },
        "SourceSecretKmsKeyArn": {
            "Type": "String",
            "Default": "",
            "Description": "Optional customer managed KMS key the source secret is encrypted "
            "with (empty: the AWS managed aws/secretsmanager key, which needs no grant)",
        },
    }


def conditions() -> Json:
    return {
        "HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlertEmail"), ""]}]},
        "HasKmsKey": {"Fn::Not": [{"Fn::Equals": [ref("KmsKeyArn"), ""]}]},
        "HasSourceSecretKey": {"Fn::Not": [{"Fn::Equals": [ref("SourceSecretKmsKeyArn"), ""]}]},
    }


def security_configuration() -> Json:
    return {
        "Type": "AWS::Glue::SecurityConfiguration",
        "Properties": {
            "Name": sub("${Prefix}-hist-retail"),
            "EncryptionConfiguration": {
                "S3Encryptions": [
                    {
                        "S3EncryptionMode": if_kms("SSE-KMS", "SSE-S3"),
                        "KmsKeyArn": if_kms(ref("KmsKeyArn")),
                    }
                ],
                "CloudWatchEncryption": {
                    "CloudWatchEncryptionMode": if_kms("SSE-KMS", "DISABLED"),
                    "KmsKeyArn": if_kms(ref("KmsKeyArn")),
                },
                "JobBookmarksEncryption": {
                    "JobBookmarksEncryptionMode": if_kms("CSE-KMS", "DISABLED"),
                    "KmsKeyArn": if_kms(ref("KmsKeyArn")),
                },
            },
        },
    }


def alert_resources() -> Json:
    return {
        "AlertTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub("${Prefix}-hist-retail-alerts"),
                "DisplayName": "hist-retail alerts",
                "KmsMasterKeyId": if_kms(ref("KmsKeyArn")),
            },
            "Metadata": checkov_skip(
                (
                    "CKV_AWS_26",
                    "Encrypted with the KmsKeyArn parameter when one is given; the AWS managed "
                    "key alias/aws/sns cannot be used, as EventBridge and CloudWatch cannot "
                    "publish to a topic encrypted with it",
                )
            ),
        },
        "AlertSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlertEmail",
            "Properties": {
                "TopicArn": ref("AlertTopic"),
                "Protocol": "email",
                "Endpoint": ref("AlertEmail"),
            },
        },
        "AlertTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [ref("AlertTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        _service_publishes(
                            "FailedRunRule", "events.amazonaws.com", "FailedRunRule"
                        ),
                        _service_publishes(
                            "NoSuccessAlarm", "cloudwatch.amazonaws.com", "NoSuccessAlarm"
                        ),
                    ],
                },
            },
        },
        "FailedRunRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "A hist-retail daily batch that ended FAILED, TIMED_OUT or "
                "ABORTED, as a message to the alert topic",
                "State": "ENABLED",
                "EventPattern": {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {
                        "status": FAILED_STATUSES,
                        "stateMachineArn": [ref("DailyBatchStateMachine")],
                    },
                },
                "Targets": [
                    {
                        "Id": "alert-topic",
                        "Arn": ref("AlertTopic"),
                        "InputTransformer": {
                            "InputPathsMap": dict(MESSAGE_PATHS),
                            "InputTemplate": f'"{MESSAGE_TEMPLATE}"',
                        },
                    }
                ],
            },
        },
        "TriggerInvokeConfig": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": ref("TriggerFunction"),
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": TRIGGER_RETRIES,
                "MaximumEventAgeInSeconds": 6 * 3600,
                "DestinationConfig": {"OnFailure": {"Destination": ref("AlertTopic")}},
            },
        },
        "NoSuccessAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": sub("${Prefix}-hist-retail-no-successful-run"),
                "AlarmDescription": "No hist-retail daily batch succeeded for 26 hours: a night "
                "was skipped or failed (see the state machine's executions)",
                "Namespace": "AWS/States",
                "MetricName": "ExecutionsSucceeded",
                "Dimensions": [{"Name": "StateMachineArn", "Value": ref("DailyBatchStateMachine")}],
                "Statistic": "Sum",
                "Period": NO_SUCCESS_PERIOD,
                "EvaluationPeriods": NO_SUCCESS_PERIODS,
                "DatapointsToAlarm": NO_SUCCESS_PERIODS,
                "Threshold": 1,
                "ComparisonOperator": "LessThanThreshold",
                "TreatMissingData": "breaching",
                "AlarmActions": [ref("AlertTopic")],
            },
        },
    }


def _service_publishes(sid: str, service: str, source: str) -> Json:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sns:Publish",
        "Resource": ref("AlertTopic"),
        "Condition": {"ArnEquals": {"aws:SourceArn": arn(source)}},
    }


def trigger_function_extras() -> Json:
    """Properties of the trigger Lambda that bound it and say why it needs no more."""
    return {
        "ReservedConcurrentExecutions": 1,
        "KmsKeyArn": if_kms(ref("KmsKeyArn")),
    }


TRIGGER_FUNCTION_SKIPS = checkov_skip(
    (
        "CKV_AWS_116",
        "Failed asynchronous invocations go to an on-failure destination (the alert topic, "
        "TriggerInvokeConfig) after 2 retries, which replaces a dead-letter queue",
    ),
    (
        "CKV_AWS_117",
        "Calls only the Step Functions API and reaches no VPC resource; in a VPC it would need "
        "a NAT or an interface endpoint for nothing",
    ),
    (
        "CKV_AWS_173",
        "Its only environment variable is the state machine's ARN, no secret; with the "
        "KmsKeyArn parameter it is encrypted with that key",
    ),
)
LOG_GROUP_SKIPS = checkov_skip(
    (
        "CKV_AWS_158",
        "Encrypted with the KmsKeyArn parameter when one is given; CloudWatch Logs encrypts "
        "log data at rest without one",
    )
)
SECURITY_CONFIGURATION_SKIPS = checkov_skip(
    (
        "CKV_AWS_99",
        "CloudWatch and bookmark encryption need a KMS key: with the KmsKeyArn parameter all "
        "three are on; without one, S3 writes are SSE-S3 and there is no key to use",
    )
)


def glue_kms_statement() -> Json:
    """Only with a key: what the Glue role needs to use it."""
    return {
        "Fn::If": [
            "HasKmsKey",
            {
                "Sid": "LakeKey",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [ref("KmsKeyArn")],
            },
            ref("AWS::NoValue"),
        ]
    }


def source_secret_key_statement() -> Json:
    """Only with SourceSecretKmsKeyArn: GetSecretValue of a secret encrypted with a customer
    managed key needs kms:Decrypt on that key, and only through Secrets Manager."""
    return {
        "Fn::If": [
            "HasSourceSecretKey",
            {
                "Sid": "SourceSecretKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [ref("SourceSecretKmsKeyArn")],
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": sub("secretsmanager.${AWS::Region}.amazonaws.com")
                    }
                },
            },
            ref("AWS::NoValue"),
        ]
    }


def glue_log_key_statement() -> Json:
    """Only with a key: Glue associates it with the log groups its jobs write."""
    return {
        "Fn::If": [
            "HasKmsKey",
            {
                "Sid": "GlueLogsKey",
                "Effect": "Allow",
                "Action": ["logs:AssociateKmsKey"],
                "Resource": [
                    sub(
                        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*"
                    )
                ],
            },
            ref("AWS::NoValue"),
        ]
    }
