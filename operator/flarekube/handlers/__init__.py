"""kopf handlers: decorators only, each a few lines over flarekube.kube (importing registers them)."""

from flarekube.handlers import job, project, settings

__all__ = ["job", "project", "settings"]
