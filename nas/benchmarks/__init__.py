"""Checks of the search strategies on problems with a known answer (``python -m nas.benchmarks.regret``)."""
