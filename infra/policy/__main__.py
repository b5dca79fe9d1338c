"""The policy pack: each rule of flarekube_infra.policy_rules as a Pulumi policy (mandatory).

Run with `pulumi preview --policy-pack policy` from infra/. `eks-endpoint-restricted` takes the policy
config `allowOpenEndpoint: true` for a stack that really asked for a 0.0.0.0/0 public endpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The rules live next to the program they police (infra/flarekube_infra), shared with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flarekube_infra import policy_rules
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)


def _resource_policy(name: str, description: str, rule: policy_rules.ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        check = rule
        if name == "eks-endpoint-restricted":
            check = policy_rules.make_endpoint_rule(bool(args.get_config().get("allowOpenEndpoint", False)))
        for violation in check(args.resource_type, args.props):
            report(violation, None)

    schema = None
    if name == "eks-endpoint-restricted":
        schema = PolicyConfigSchema(properties={"allowOpenEndpoint": {"type": "boolean", "default": False}})
    return ResourceValidationPolicy(name, description, validate, EnforcementLevel.MANDATORY, schema)


def _stack_policy(name: str, description: str) -> StackValidationPolicy:
    rule = policy_rules.STACK_RULES[name][1]

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for violation in rule([(r.resource_type, r.props) for r in args.resources]):
            report(violation, None)

    return StackValidationPolicy(name, description, validate, EnforcementLevel.MANDATORY)


def policies() -> list[Policy]:
    out: list[Policy] = [
        _resource_policy(name, description, rule) for name, (description, rule) in policy_rules.RESOURCE_RULES.items()
    ]
    out += [_stack_policy(name, description) for name, (description, _) in policy_rules.STACK_RULES.items()]
    return out


if __name__ == "__main__":
    PolicyPack(name="flarekube", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
