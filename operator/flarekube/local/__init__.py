"""`flarekube run`: the embedded default — a real NVFlare federation as local processes."""
