"""What IAM authorizes for each AWS call the project makes: a small table, from AWS's Service
Authorization Reference ("Actions, resources, and condition keys for <service>", the "Actions"
table of each), and for the state machine from Step Functions' documented integration policies.

A call is what was recorded: the operation and the parameters its IAM requests depend on. An
operation missing here fails the rehearsal by name, so a new call cannot pass unexamined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.rehearsal.policy import Request

SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference/"
CITATIONS = {
    "s3": SAR + "list_amazons3.html",
    "glue": SAR + "list_awsglue.html",
    "secretsmanager": SAR + "list_awssecretsmanager.html",
    "states": SAR + "list_awsstepfunctions.html",
    # Step Functions' own page on what a `.sync` Glue task needs of the state machine's role
    "states:glue.sync": "https://docs.aws.amazon.com/step-functions/latest/dg/connect-glue.html",
}


@dataclass(frozen=True)
class Call:
    """One recorded AWS call: who signed it, the service and operation, and its parameters."""

    role: str  # the name of the role whose credentials signed it ("" for none of the stack's)
    service: str  # the signing name: s3, glue, secretsmanager, states
    operation: str  # GetObject, BatchGetPartition, ...
    params: Mapping[str, Any]

    def label(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass(frozen=True)
class Account:
    account: str
    region: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"


Expand = Callable[[Account, Mapping[str, Any]], list[Request]]
# S3 requests arrive over TLS in AWS (S3A's and boto3's default): the key the lake's TLS-only
# bucket policy tests. The rehearsal's server speaks plain HTTP on 127.0.0.1; that is not what
# AWS would see, so the context says what AWS would.
TLS = {"aws:SecureTransport": "true"}


def _bucket(a: Account, p: Mapping[str, Any]) -> str:
    return f"arn:{a.partition}:s3:::{p['Bucket']}"


def _object(a: Account, p: Mapping[str, Any], key: str | None = None) -> str:
    return f"arn:{a.partition}:s3:::{p['Bucket']}/{p['Key'] if key is None else key}"


def _on_object(action: str) -> Expand:
    return lambda a, p: [Request(action, _object(a, p), TLS)]


def _on_bucket(action: str, with_prefix: bool = False) -> Expand:
    def expand(a: Account, p: Mapping[str, Any]) -> list[Request]:
        # s3:prefix: a listing without a prefix is the bucket's root, which AWS's own
        # examples grant with the value "" (S3 user guide, "s3:prefix" condition key)
        context = {**TLS, "s3:prefix": str(p.get("Prefix", ""))} if with_prefix else TLS
        return [Request(action, _bucket(a, p), context)]

    return expand


def _copy(a: Account, p: Mapping[str, Any]) -> list[Request]:
    """CopyObject and UploadPartCopy: s3:PutObject on the target, s3:GetObject on the source."""
    source_bucket, _, source_key = str(p["CopySource"]).lstrip("/").partition("/")
    return [
        Request("s3:PutObject", _object(a, p), TLS),
        Request("s3:GetObject", f"arn:{a.partition}:s3:::{source_bucket}/{source_key}", TLS),
    ]


def _delete_objects(a: Account, p: Mapping[str, Any]) -> list[Request]:
    """DeleteObjects is authorized per key, as s3:DeleteObject of each."""
    return [Request("s3:DeleteObject", _object(a, p, key), TLS) for key in p["Keys"]]


def _glue_table(action: str) -> Expand:
    """Catalog calls on a table are authorized on the catalog, the database and the table
    (Glue developer guide, "Specifying AWS Glue resource ARNs")."""

    def expand(a: Account, p: Mapping[str, Any]) -> list[Request]:
        database, table = p["DatabaseName"], p.get("TableName") or p["Name"]
        return [
            Request(action, a.arn("glue", resource))
            for resource in ("catalog", f"database/{database}", f"table/{database}/{table}")
        ]

    return expand


def _glue_job(*actions: str) -> Expand:
    return lambda a, p: [Request(x, a.arn("glue", f"job/{p['JobName']}")) for x in actions]


def _secret(a: Account, p: Mapping[str, Any]) -> list[Request]:
    secret = str(p["SecretId"])
    resource = secret if secret.startswith("arn:") else a.arn("secretsmanager", f"secret:{secret}")
    return [Request("secretsmanager:GetSecretValue", resource)]


OPERATIONS: dict[tuple[str, str], Expand] = {
    # S3 (list_amazons3.html). Head* are authorized as the Get/List they stand for.
    ("s3", "GetObject"): _on_object("s3:GetObject"),
    ("s3", "HeadObject"): _on_object("s3:GetObject"),
    ("s3", "PutObject"): _on_object("s3:PutObject"),
    ("s3", "CreateMultipartUpload"): _on_object("s3:PutObject"),
    ("s3", "UploadPart"): _on_object("s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): _on_object("s3:PutObject"),
    ("s3", "AbortMultipartUpload"): _on_object("s3:AbortMultipartUpload"),
    ("s3", "ListParts"): _on_object("s3:ListMultipartUploadParts"),
    ("s3", "CopyObject"): _copy,
    ("s3", "UploadPartCopy"): _copy,
    ("s3", "DeleteObject"): _on_object("s3:DeleteObject"),
    ("s3", "DeleteObjects"): _delete_objects,
    ("s3", "ListObjectsV2"): _on_bucket("s3:ListBucket", with_prefix=True),
    ("s3", "ListObjects"): _on_bucket("s3:ListBucket", with_prefix=True),
    ("s3", "HeadBucket"): _on_bucket("s3:ListBucket"),
    ("s3", "GetBucketLocation"): _on_bucket("s3:GetBucketLocation"),
    ("s3", "ListMultipartUploads"): _on_bucket("s3:ListBucketMultipartUploads"),
    # Glue Data Catalog and jobs (list_awsglue.html)
    ("glue", "GetTable"): _glue_table("glue:GetTable"),
    ("glue", "GetPartition"): _glue_table("glue:GetPartition"),
    ("glue", "GetPartitions"): _glue_table("glue:GetPartitions"),
    ("glue", "BatchGetPartition"): _glue_table("glue:BatchGetPartition"),
    ("glue", "BatchCreatePartition"): _glue_table("glue:BatchCreatePartition"),
    ("glue", "BatchUpdatePartition"): _glue_table("glue:BatchUpdatePartition"),
    ("glue", "BatchDeletePartition"): _glue_table("glue:BatchDeletePartition"),
    ("glue", "GetJobRun"): _glue_job("glue:GetJobRun"),
    # Step Functions' `.sync` Glue integration: its documented policy for "Run a Job (.sync)"
    # holds all four, since the service polls, lists and, on abort, stops the run itself.
    ("glue", "StartJobRun.sync"): _glue_job(
        "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"
    ),
    # Secrets Manager (list_awssecretsmanager.html)
    ("secretsmanager", "GetSecretValue"): _secret,
    # Step Functions (list_awsstepfunctions.html)
    ("states", "StartExecution"): lambda a, p: [
        Request("states:StartExecution", str(p["stateMachineArn"]))
    ],
    ("states", "DescribeExecution"): lambda a, p: [
        Request("states:DescribeExecution", str(p["executionArn"]))
    ],
}


class UnknownOperation(KeyError):
    pass


def requests_of(account: Account, call: Call) -> list[Request]:
    """The IAM requests AWS evaluates for `call`."""
    try:
        expand = OPERATIONS[(call.service, call.operation)]
    except KeyError:
        raise UnknownOperation(
            f"{call.label()} (by {call.role or 'no role'}) has no entry in "
            "orchestration/rehearsal/authorization.py: look it up in the Service "
            "Authorization Reference and add it"
        ) from None
    return expand(account, call.params)
