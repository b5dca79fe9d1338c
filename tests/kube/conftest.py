"""SecretKitStore and friends against a real (bare) kube-apiserver: tests/apiserver's fixture, reused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[1] / "apiserver" / "conftest.py"
_spec = importlib.util.spec_from_file_location("flarekube_tests_apiserver", _path)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

apiserver = _module.apiserver  # pytest finds fixtures by name
