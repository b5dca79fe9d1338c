"""IAM documents as pure functions (JSON-ready dicts), so the tests read exactly what AWS gets."""

from __future__ import annotations

from typing import Any

NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    # The VPC CNI runs on every node with the node role; an IRSA role for it is the next hardening step.
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
)
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def assume_role_policy(service: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def irsa_trust_policy(oidc_provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> dict[str, Any]:
    """IRSA: only this one ServiceAccount may assume the role (sub), and only for STS (aud)."""
    issuer = issuer_url.removeprefix("https://")
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": oidc_provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            f"{issuer}:aud": "sts.amazonaws.com",
        }},
    }]}


def load_balancer_controller_policy(cluster_name: str) -> dict[str, Any]:
    """What the AWS Load Balancer Controller needs to run NLBs for Services (no ALB, WAF or Shield:
    the Platform turns those features off). Writes are limited to balancers, target groups and
    security groups that carry the controller's cluster tag, so it cannot touch anything else."""
    tag = "elbv2.k8s.aws/cluster"
    owned = {"Null": {f"aws:ResourceTag/{tag}": "false"}}
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
            "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
            "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
            "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeCoipPools",
            "ec2:GetCoipPoolUsage", "ec2:DescribeRouteTables", "ec2:GetSecurityGroupsForVpc",
            "elasticloadbalancing:Describe*"]},
        {"Effect": "Allow", "Action": ["ec2:CreateSecurityGroup"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:CreateTags"], "Resource": "arn:aws:ec2:*:*:security-group/*",
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                       "Null": {f"aws:RequestTag/{tag}": "false"}}},
        {"Effect": "Allow", "Resource": "*", "Condition": owned, "Action": [
            "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup",
            "ec2:CreateTags", "ec2:DeleteTags"]},
        # Creating balancers and target groups: the request must carry the cluster tag.
        {"Effect": "Allow", "Resource": "*", "Condition": {"Null": {f"aws:RequestTag/{tag}": "false"}}, "Action": [
            "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:AddTags"]},
        {"Effect": "Allow", "Resource": "*", "Action": [
            "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:ModifyListener", "elasticloadbalancing:AddListenerCertificates",
            "elasticloadbalancing:RemoveListenerCertificates"]},
        {"Effect": "Allow", "Resource": "*", "Condition": owned, "Action": [
            "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
            "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]},
        {"Effect": "Allow", "Resource": "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*", "Action": [
            "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]},
    ]} | {"Id": f"flarekube-{cluster_name}-aws-load-balancer-controller"}
