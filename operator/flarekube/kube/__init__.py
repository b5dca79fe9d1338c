"""The only package that imports the kubernetes client: API access, apply, kit Secrets, observation."""
