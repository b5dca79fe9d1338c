"""Pure builders: spec in, NVFlare inputs or Kubernetes objects out."""
