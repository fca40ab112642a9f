"""Helpers of the outbound tests: a clock the test moves, a bounded
asyncio.run, and the self-signed certificate of the capture relay."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from hivemail.net.tls import ensure_self_signed, server_context

START = 1_800_000_000.0  # a fixed "now", seconds since the epoch


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def arun(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    """asyncio.run with a deadline: a hung test fails instead of hanging."""

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def relay_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """(certificate file, server context) for a relay named "localhost"."""
    cert, key = ensure_self_signed(tmp_path_factory.mktemp("relay-tls"), "localhost")
    return cert, server_context(cert, key)
