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
    parser.addoption(
        "--backend",
        choices=("embedded", "postgresql"),
        default=None,
        help="storage backend of the servers the tests start (tests/support/backend.py); "
             "postgresql leaves out the tests marked embedded_only",
    )


def pytest_configure(config: pytest.Config) -> None:
    backend = config.getoption("--backend")
    if backend:
        # Read by tests/support/backend.py here and in xdist workers' children.
        os.environ["HIVEMAIL_TEST_BACKEND"] = backend


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HIVEMAIL_TEST_BACKEND", "embedded") == "embedded":
        return
    kept, left = [], []
    for item in items:
        (left if item.get_closest_marker("embedded_only") else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


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
