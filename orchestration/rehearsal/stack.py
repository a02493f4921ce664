"""The rendered template as CloudFormation would resolve it for one set of parameters.

Only what the stack's own template uses: Ref (parameters, pseudo parameters, resources),
Fn::Sub (with `${Name}` and `${Resource.Attribute}`), Fn::GetAtt of an Arn, Fn::If on the
template's Conditions (Fn::Equals, Fn::Not) and AWS::NoValue. Anything else is refused by name,
so the rehearsal never runs a template it only half understood.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.rehearsal.authorization import Account

_NO_VALUE = object()
# What a night touches, and so what the rehearsal creates in moto; the rest of the stack
# (alerts, alarms, schedule, log groups, the Lambda function itself) is referred to only.
REHEARSED = {
    "AWS::IAM::Role",
    "AWS::IAM::RolePolicy",
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::Glue::Job",
    "AWS::StepFunctions::StateMachine",
}
_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class ResolvedStack:
    """The template's resources with every intrinsic resolved; conditional ones dropped."""

    account: Account
    parameters: Mapping[str, str]
    template: Mapping[str, Any]

    def __post_init__(self) -> None:
        self.conditions = {
            name: bool(self._value(body)) for name, body in self.template["Conditions"].items()
        }
        self.resources = {
            name: {**body, "Properties": self._value(body.get("Properties", {}))}
            for name, body in self.template["Resources"].items()
            if body["Type"] in REHEARSED and self.conditions.get(body.get("Condition", ""), True)
        }

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: r["Properties"] for n, r in self.resources.items() if r["Type"] == kind}

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account.account,
            "AWS::Region": self.account.region,
            "AWS::Partition": self.account.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": f"{self.parameters.get('Prefix', 'rehearsal')}-hist-retail",
            "AWS::NoValue": _NO_VALUE,
        }[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.template["Parameters"]:
            if name in self.parameters:
                return self.parameters[name]
            return self.template["Parameters"][name].get("Default", "")
        resource = self.template["Resources"][name]
        properties = self._value(resource.get("Properties", {}))
        a = self.account
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            return properties["RoleName"]
        if kind == "AWS::StepFunctions::StateMachine":
            return a.arn("states", f"stateMachine:{properties['StateMachineName']}")
        if kind == "AWS::SNS::Topic":
            return a.arn("sns", properties["TopicName"])
        if kind == "AWS::Logs::LogGroup":
            return properties["LogGroupName"]
        if kind in ("AWS::Lambda::Function", "AWS::Glue::Job"):
            return properties.get("FunctionName") or properties["Name"]
        if kind == "AWS::Glue::SecurityConfiguration":
            return properties["Name"]
        if kind == "AWS::Glue::Database":
            return properties["DatabaseInput"]["Name"]
        if kind == "AWS::Glue::Table":
            return properties["TableInput"]["Name"]
        if kind == "AWS::Events::Rule":  # unnamed: CloudFormation makes a name
            return properties.get("Name") or f"{self._pseudo('AWS::StackName')}-{name}"
        raise ValueError(f"the rehearsal does not resolve a Ref to {kind} ({name})")

    def get_att(self, name: str, attribute: str) -> Any:
        if attribute != "Arn":
            raise ValueError(f"the rehearsal does not resolve Fn::GetAtt {name}.{attribute}")
        kind = self.template["Resources"][name]["Type"]
        value = self.ref(name)
        a = self.account
        if kind == "AWS::IAM::Role":
            return f"arn:{a.partition}:iam::{a.account}:role/{value}"
        if kind == "AWS::Logs::LogGroup":
            return a.arn("logs", f"log-group:{value}:*")
        if kind == "AWS::Lambda::Function":
            return a.arn("lambda", f"function:{value}")
        if kind in ("AWS::StepFunctions::StateMachine", "AWS::SNS::Topic"):
            return value
        if kind == "AWS::Events::Rule":
            return a.arn("events", f"rule/{value}")
        raise ValueError(f"the rehearsal does not resolve Fn::GetAtt of {kind} ({name})")

    def _sub(self, text: str, extra: Mapping[str, Any]) -> str:
        def one(found: re.Match[str]) -> str:
            name = found.group(1)
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _PLACEHOLDER.sub(one, text).replace("${!", "${")

    def _value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self._value(x) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self._value(arg[1]))
                return self._sub(text, extra)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::If":
                condition, yes, no = arg
                return self._value(yes if self.conditions[condition] else no)
            if key == "Fn::Equals":
                left, right = (self._value(x) for x in arg)
                return left == right
            if key == "Fn::Not":
                return not self._value(arg[0])
            if key == "Condition":
                return self.conditions[arg]
            if key.startswith("Fn::"):
                raise ValueError(f"the rehearsal does not resolve {key}")
        resolved = {k: self._value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def function_environment(self) -> dict[str, str]:
        """The trigger Lambda's environment variables as the stack sets them, resolved, as text
        (the function itself is not rehearsed: its handler runs in the rehearsal's process)."""
        (function,) = [
            body for body in self.template["Resources"].values()
            if body["Type"] == "AWS::Lambda::Function"
        ]  # fmt: skip
        variables = function["Properties"]["Environment"]["Variables"]
        return {name: str(self._value(value)) for name, value in variables.items()}

    def role_statements(self, logical_id: str) -> list[dict[str, Any]]:
        """Every statement of a role: its inline Policies and any AWS::IAM::RolePolicy on it."""
        role = self.resources[logical_id]["Properties"]
        documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
        documents += [
            p["PolicyDocument"]
            for p in self.of_type("AWS::IAM::RolePolicy").values()
            if p["RoleName"] == role["RoleName"]
        ]
        return [s for d in documents for s in d["Statement"]]
