"""The one place pytest loads the shared fixtures from (pytest reads `pytest_plugins` only in the root conftest)."""

pytest_plugins = [
    "tests.support.apiserver",
    "tests.support.cluster",
    "tests.support.e2e",
    "tests.support.federation",
]
