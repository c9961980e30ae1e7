"""Benchmarks: timings that must not live in the test suite. ``python -m bench`` runs them all.

Each ``bench/<name>.py`` module defines ``run() -> None`` that prints its figures. Benchmarks
work in scratch space they remove afterwards and never change the data of the database they
are pointed at.
"""
