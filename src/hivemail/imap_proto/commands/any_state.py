"""CAPABILITY NOOP LOGOUT ID  (RFC 9051 sections 6.1.1-6.1.3, RFC 2971)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args

__all__ = [
    "CapabilityRequest",
    "NoopRequest",
    "LogoutRequest",
    "IdRequest",
    "parse_capability",
    "parse_noop",
    "parse_logout",
    "parse_id",
]


@dataclass(frozen=True)
class CapabilityRequest:
    """capability = "CAPABILITY"  (RFC 9051 section 6.1.1)"""


@dataclass(frozen=True)
class NoopRequest:
    """"NOOP"  (RFC 9051 section 6.1.2)"""


@dataclass(frozen=True)
class LogoutRequest:
    """"LOGOUT"  (RFC 9051 section 6.1.3)"""


@dataclass(frozen=True)
class IdRequest:
    """id = "ID" SP id-params-list  (RFC 2971 section 4)

    ``params`` is ``None`` for ``ID NIL``; otherwise (field, value) pairs in
    order, ``value`` ``None`` for NIL.
    """

    params: tuple[tuple[str, str | None], ...] | None


def parse_capability(args: Args) -> CapabilityRequest:
    args.end()
    return CapabilityRequest()


def parse_noop(args: Args) -> NoopRequest:
    args.end()
    return NoopRequest()


def parse_logout(args: Args) -> LogoutRequest:
    args.end()
    return LogoutRequest()


# id-params-list ::= "(" *(string SPACE nstring) ")" / nil
#    ;; list of field value pairs; at most 30 pairs, field at most 30
#    ;; octets, value at most 1024 octets  (RFC 2971 section 3.3)
MAX_ID_PAIRS = 30


def parse_id(args: Args) -> IdRequest:
    if args.peek_keyword() == "NIL":
        args.next("NIL")
        args.end()
        return IdRequest(None)
    inner = args.list("a parenthesized list of field/value pairs or NIL")
    args.end()
    pairs = []
    while not inner.at_end():
        field = inner.string_bytes("a field name").decode("utf-8", "surrogateescape")
        value = inner.nstring("a field value or NIL")
        if len(field) > 30 or (value is not None and len(value) > 1024):
            raise args.error("field names are limited to 30 octets and values to 1024 (RFC 2971)")
        pairs.append((field, value))
    if len(pairs) > MAX_ID_PAIRS:
        raise args.error("at most 30 field/value pairs are allowed (RFC 2971)")
    return IdRequest(tuple(pairs))
