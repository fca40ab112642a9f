"""Fuzz targets for the pure protocol cores, shared by two engines.

* ``tests/property/test_fuzz.py`` runs every target under Hypothesis, so
  ``make test`` fuzzes a little (the default profile) and
  ``HYPOTHESIS_PROFILE=fuzz pytest tests/property`` a lot more.
* ``python -m tests.fuzz`` (``make fuzz``) runs them for a fixed time with
  atheris (coverage-guided libFuzzer) when it is installed, else Hypothesis,
  and prints a one-line summary.  See ``__main__.py``.

A target is ``generate(source) -> case`` plus ``check(case)``: the source
(``sources.py``) is a Hypothesis ``data`` object or raw fuzzer bytes; the
check runs under a time and memory bound (``bounds.py``) and is what
regression tests call with a concrete case.
"""
