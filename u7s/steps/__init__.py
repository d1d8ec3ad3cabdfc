"""Steps of a cluster's life, each idempotent, with its dry-run text beside its action."""
