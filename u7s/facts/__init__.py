"""Probes of a host: each a read-only command plus a pure parser of its output."""
