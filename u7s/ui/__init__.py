"""What the user sees: progress lines, tables, JSON."""
