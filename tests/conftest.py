"""Shared pytest options.  Keep small: other suites add their own fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (tests/golden/**) from the current output instead of comparing",
    )


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


# Hypothesis profiles: HYPOTHESIS_PROFILE=fuzz for long runs (``make fuzz``
# uses tests/fuzz/__main__.py instead, which is time-boxed).  "default"
# keeps `make test` fast; tests that fix max_examples in @settings keep it.
settings.register_profile("default", settings(max_examples=100))
settings.register_profile("ci", settings(max_examples=300, derandomize=True, print_blob=True))
settings.register_profile("fuzz", settings(max_examples=20_000, deadline=None, print_blob=True))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
