"""IDLE  (RFC 9051 section 6.3.13, RFC 2177)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args

__all__ = ["IdleRequest", "parse_idle"]


@dataclass(frozen=True)
class IdleRequest:
    """idle = "IDLE" CRLF "DONE"

    After this request the core reads one line: ``DONE`` (any case) gives
    ``IdleDone()``; anything else gives ``BadCommand(idle tag, ...)``.  Either
    way the session ends the IDLE with the tagged response.
    """


def parse_idle(args: Args) -> IdleRequest:
    args.end()
    return IdleRequest()
