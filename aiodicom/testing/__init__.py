"""Generators of sample data for tests, benchmarks and the bundled config scripts (not used
by the servers at run time)."""
