"""Settings and inventory: what the user gives, validated, with everything derived from it."""
