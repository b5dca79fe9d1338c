"""The contract: FLProject and FLJob (flarekube.io/v1alpha1) — nothing else lives here."""

from flarekube.api.common import API_GROUP, API_VERSION, GROUP_VERSION, Resources
from flarekube.api.documents import Bundle, load_bundle, load_documents, parse_document
from flarekube.api.errors import SpecError, SpecProblem
from flarekube.api.job import FLJob, FLJobSpec
from flarekube.api.project import FLProject, FLProjectSpec, SiteSpec
from flarekube.api.validation import cross_check

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "GROUP_VERSION",
    "Bundle",
    "FLJob",
    "FLJobSpec",
    "FLProject",
    "FLProjectSpec",
    "Resources",
    "SiteSpec",
    "SpecError",
    "SpecProblem",
    "cross_check",
    "load_bundle",
    "load_documents",
    "parse_document",
]
