"""Client API training code that runs inside NVFlare client processes (and, later, their containers).

Sub-packages: ``tabular`` (the CRC clinical MLP) and ``xray`` (the chest X-ray CNN). Shared pieces:
``auc`` (rank-based ROC AUC, no sklearn), ``reporting`` (per-site JSONL metrics) and ``flare_loop``
(the receive → evaluate → train → send loop both clients use).
"""
