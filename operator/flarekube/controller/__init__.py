"""Orchestration: each reconcile is an ordered list of small steps, then one status computation.

The steps call kube/ (Kubernetes I/O), flare.py (the Flare API) and provisioning/ (kits); what they
decide comes from builders/ (pure), and the status from status/ (pure), as KubeRay's reconcilers end in
calculateStatus. No kopf here (handlers/ adapts these to kopf) and no kubernetes client import.
"""
