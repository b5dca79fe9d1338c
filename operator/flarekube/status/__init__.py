"""Pure status: an observed snapshot -> conditions, phase and the rest of .status (no I/O here)."""
