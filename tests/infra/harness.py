"""Run `program(config)` under Pulumi mocks and keep what every resource was given.

pulumi-eks's Cluster comes back as one opaque resource (its inputs are still recorded, which is what
the policy rules check); invokes return canned AZ offerings and an OIDC issuer.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
NLB_HOSTNAME = "k8s-hosp-nlb.elb.us-east-1.amazonaws.com"
KUBECONFIG = json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "flarekube"}]})


@dataclass
class Recorded:
    typ: str
    name: str
    props: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)  # names of explicit dependencies


class Mocks(pulumi.runtime.Mocks):
    def __init__(self, offered: dict[str, list[str]] | None = None) -> None:
        self.offered = offered or {}
        self.resources: list[Recorded] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        outputs = copy.deepcopy(dict(args.inputs))
        rid = f"{args.name}-id"
        if args.typ == "eks:index:Cluster":
            outputs["kubeconfigJson"] = KUBECONFIG
        elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            outputs["latestVersion"] = 1
        elif args.typ in ("aws:iam/role:Role", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
                          "aws:iam/policy:Policy", "aws:kms/key:Key"):
            outputs["arn"] = f"arn:aws:iam::123456789012:{args.name}"
            outputs.setdefault("name", args.name)
        elif args.typ == "kubernetes:core/v1:Service":
            outputs["status"] = {"loadBalancer": {"ingress": [{"hostname": NLB_HOSTNAME}]}}
        self.resources.append(Recorded(args.typ, args.name, {**outputs, "id": rid}))
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            wanted = args.args["filters"][0]["values"][0]
            locations = self.offered.get(wanted, ["us-east-1a", "us-east-1b", "us-east-1c"])
            return {"locations": locations, "instanceTypes": [wanted] * len(locations), "id": "x"}, []
        if args.token == "aws:eks/getCluster:getCluster":
            return {"name": args.args["name"], "identities": [{"oidcs": [{"issuer": ISSUER}]}], "id": "x"}, []
        return {}, []

    def of(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Recorded:
        (found,) = [r for r in self.resources if r.name == name]
        return found


def run(program: Any, mocks: Mocks) -> Mocks:
    """Run `program()` to completion under `mocks`; explicit depends_on is recorded per resource."""
    pulumi.runtime.set_mocks(mocks, project="flarekube-infra", stack="test", preview=False)
    deps: dict[tuple[str, str], list[str]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        names = [getattr(d, "_name", "?") for d in (args.opts.depends_on or []) if isinstance(d, pulumi.Resource)]
        deps[(args.type_, args.name)] = names
        return None

    @pulumi.runtime.test
    def go() -> None:
        pulumi.runtime.register_stack_transformation(record)
        program()

    go()
    for r in mocks.resources:
        r.depends_on = deps.get((r.typ, r.name), [])
    return mocks
