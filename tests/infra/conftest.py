"""Warnings of the Pulumi SDKs that say nothing about flarekube. (infra/ is a Pulumi project, not an
installed package: pyproject's pytest `pythonpath` puts it, and its flarekube_infra, on the path.)"""

from __future__ import annotations


def pytest_configure(config: object) -> None:
    # pulumi_eks warns at import about its legacy self-managed NodeGroup, which flarekube does not use.
    config.addinivalue_line(  # type: ignore[attr-defined]
        "filterwarnings", "ignore:NodeGroup uses AWS EC2 LaunchConfiguration:DeprecationWarning"
    )
    # pulumi_aws's own deprecated EncryptionControl type warns when the package registers its types.
    config.addinivalue_line("filterwarnings", "ignore:aws.ec2/encryptioncontrol:DeprecationWarning")  # type: ignore[attr-defined]
