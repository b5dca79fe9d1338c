"""The flarekube policy pack (`pulumi preview --policy-pack infra/policy`); rules: flarekube_infra.policy_rules."""
