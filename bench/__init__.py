"""Benchmarks of u7s on the test lab (not part of the test suite)."""
