"""ENABLE  (RFC 9051 section 6.3.1, RFC 5161)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args

__all__ = ["EnableRequest", "parse_enable"]


@dataclass(frozen=True)
class EnableRequest:
    """enable = "ENABLE" 1*(SP capability)

    Capability names are upper-cased (capabilities are case-insensitive).
    The core switches to IMAP4rev2 / UTF-8 mode only when the session sends
    the ``* ENABLED`` response naming them.
    """

    capabilities: tuple[str, ...]


def parse_enable(args: Args) -> EnableRequest:
    caps = [args.keyword("a capability name")]
    while not args.at_end():
        caps.append(args.keyword("a capability name"))
    return EnableRequest(tuple(caps))
