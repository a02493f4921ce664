"""Every request that reaches the rehearsal's moto server, recorded as the call it is.

A WSGI layer in front of moto's own application keeps, for each request, the access key that
signed it (from the SigV4 `Authorization` header), the signing service, and what AWS would
authorize it on: for JSON-protocol services (Glue, Secrets Manager, Step Functions) the
operation from `X-Amz-Target` and the body's parameters; for S3's REST API the operation that the
method, path and query name, and the keys of a DeleteObjects. S3A's traffic from the JVM and
boto3's from Python arrive the same way, so one recorder sees both.
"""

from __future__ import annotations

import io
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from orchestration.rehearsal.authorization import Call

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")


@dataclass(frozen=True)
class Received:
    """One HTTP request as the server saw it."""

    access_key: str
    service: str
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    status: int = 0


class Recorder:
    """A WSGI middleware: records each request, then hands it to moto unchanged."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        headers = {
            k[5:].replace("_", "-").lower(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        found = _CREDENTIAL.search(headers.get("authorization", ""))
        if not found:  # unsigned: moto's own API, the dashboard
            return self.app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        body = b""
        # Only small bodies are read: JSON-protocol calls and S3's DeleteObjects. Object
        # uploads stream through untouched.
        if "x-amz-target" in headers or (environ["REQUEST_METHOD"] == "POST" and "delete" in query):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        status: list[int] = []

        def recording_start(status_line: str, *args: Any) -> Any:
            status.append(int(status_line.split()[0]))
            return start_response(status_line, *args)

        response = self.app(environ, recording_start)
        with self.lock:
            self.received.append(
                Received(
                    access_key=found.group(1),
                    service=found.group(3),
                    method=environ["REQUEST_METHOD"],
                    path=unquote(environ.get("PATH_INFO", "")),
                    query=query,
                    headers=headers,
                    body=body,
                    status=status[0] if status else 0,
                )
            )
        return response

    def calls(self, roles_by_key: Mapping[str, str]) -> list[Call]:
        """The recorded requests as calls, each with the role of its access key."""
        with self.lock:
            received = list(self.received)
        return [
            Call(roles_by_key.get(r.access_key, ""), r.service, *operation_of(r)) for r in received
        ]


def operation_of(r: Received) -> tuple[str, dict[str, Any]]:
    """The API operation a request is, and the parameters its authorization depends on."""
    target = r.headers.get("x-amz-target")
    if target:
        return target.rpartition(".")[2], json.loads(r.body or b"{}")
    if r.service == "s3":
        return _s3_operation(r)
    return r.query.get("Action", ["?"])[0], {}  # query protocol (STS, IAM): the harness's own


def _s3_operation(r: Received) -> tuple[str, dict[str, Any]]:
    bucket, _, key = r.path.lstrip("/").partition("/")
    q, m = r.query, r.method
    params: dict[str, Any] = {"Bucket": bucket}
    if not key:
        if "prefix" in q:
            params["Prefix"] = q["prefix"][0]
        if m == "GET" and "location" in q:
            return "GetBucketLocation", params
        if m == "GET" and "uploads" in q:
            return "ListMultipartUploads", params
        if m == "GET":
            return ("ListObjectsV2" if q.get("list-type") == ["2"] else "ListObjects"), params
        if m == "HEAD":
            return "HeadBucket", params
        if m == "POST" and "delete" in q:
            return "DeleteObjects", {**params, "Keys": _deleted_keys(r.body)}
        if m == "PUT":
            return "CreateBucket", params
        return f"{m} bucket ?{'&'.join(q)}", params
    params["Key"] = key
    copy_source = r.headers.get("x-amz-copy-source")
    if copy_source:
        params["CopySource"] = unquote(copy_source)
    if m == "PUT" and "partNumber" in q:
        return ("UploadPartCopy" if copy_source else "UploadPart"), params
    if m == "PUT":
        return ("CopyObject" if copy_source else "PutObject"), params
    if m == "POST" and "uploads" in q:
        return "CreateMultipartUpload", params
    if m == "POST" and "uploadId" in q:
        return "CompleteMultipartUpload", params
    if m == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload", params
    if m == "DELETE":
        return "DeleteObject", params
    if m == "GET" and "uploadId" in q:
        return "ListParts", params
    if m == "GET":
        return "GetObject", params
    if m == "HEAD":
        return "HeadObject", params
    return f"{m} object ?{'&'.join(q)}", params


def _deleted_keys(body: bytes) -> list[str]:
    root = ET.fromstring(body)
    return [e.text or "" for e in root.iter() if e.tag.rpartition("}")[2] == "Key"]


def count_by_role(calls: Iterable[Call]) -> dict[str, dict[str, int]]:
    """role -> service:operation -> how many."""
    found: dict[str, dict[str, int]] = {}
    for call in calls:
        per_role = found.setdefault(call.role or "(harness)", {})
        per_role[call.label()] = per_role.get(call.label(), 0) + 1
    return found
