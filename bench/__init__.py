"""Benchmarks: ``python -m bench`` prints ``bench <name> <value> <unit>`` lines."""
