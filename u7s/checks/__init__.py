"""Read-only checks and reports: preflight, status, smoke test, compose validation, the log bundle. None changes a cluster."""
