"""Benchmark scripts.

A package, so mypy resolves benchmarks/daemon.py and benchmarks/apdu.py as ``benchmarks.*`` instead of
clashing with the ``daemon`` and ``apdu`` packages.
"""
