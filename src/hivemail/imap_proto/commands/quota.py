"""GETQUOTA GETQUOTAROOT SETQUOTA  (RFC 9208 sections 4.1.1-4.1.3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args

__all__ = [
    "GetQuotaRequest", "GetQuotaRootRequest", "SetQuotaRequest",
    "parse_getquota", "parse_getquotaroot", "parse_setquota",
]


@dataclass(frozen=True)
class GetQuotaRequest:
    """getquota = "GETQUOTA" SP quota-root-name
    quota-root-name = astring"""

    root: str


@dataclass(frozen=True)
class GetQuotaRootRequest:
    """getquotaroot = "GETQUOTAROOT" SP mailbox

    The mailbox need not exist (RFC 9208 4.1.2: "which quota root would
    apply to a mailbox when it gets created")."""

    mailbox: str


@dataclass(frozen=True)
class SetQuotaRequest:
    """setquota          = "SETQUOTA" SP quota-root-name SP setquota-list
    setquota-list     = "(" [setquota-resource *(SP setquota-resource)] ")"
    setquota-resource = resource-name SP resource-limit
    resource-name     = "STORAGE" / "MESSAGE" / "MAILBOX" /
                        "ANNOTATION-STORAGE" / resource-name-ext   ; atom
    resource-limit    = number64

    ``limits`` are (upper-cased resource name, limit) in the order given.
    The grammar is parsed in full so that a malformed command is BAD even
    though every well-formed one is refused (no QUOTASET)."""

    root: str
    limits: tuple[tuple[str, int], ...]


def parse_getquota(args: Args) -> GetQuotaRequest:
    root = args.astring("a quota root name")
    args.end()
    return GetQuotaRequest(root)


def parse_getquotaroot(args: Args) -> GetQuotaRootRequest:
    mailbox = args.mailbox()
    args.end()
    return GetQuotaRootRequest(mailbox)


def parse_setquota(args: Args) -> SetQuotaRequest:
    root = args.astring("a quota root name")
    inner = args.list("a parenthesized list of resource limits")
    args.end()
    limits: list[tuple[str, int]] = []
    while not inner.at_end():
        name = inner.keyword("a resource name")
        limits.append((name, inner.number("a resource limit", bits64=True)))
    return SetQuotaRequest(root, tuple(limits))
