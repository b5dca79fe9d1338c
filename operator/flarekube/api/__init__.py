"""The contract: FLProject and FLJob (flarekube.io/v1alpha1) — nothing else lives here."""

from flarekube.api.common import API_GROUP, API_VERSION, GROUP_VERSION, Resources
from flarekube.api.documents import Bundle, cross_check, load_bundle, load_documents, parse_document
from flarekube.api.errors import SpecError
from flarekube.api.job import FLJob, FLJobSpec
from flarekube.api.project import FLProject, FLProjectSpec, SiteSpec

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
    "cross_check",
    "load_bundle",
    "load_documents",
    "parse_document",
]
