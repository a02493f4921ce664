"""CloudFormation intrinsics as small Python helpers, shared by the template and its IAM part."""

from __future__ import annotations

import re
from typing import Any

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
