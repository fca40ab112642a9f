"""CHECK EXPUNGE UID EXPUNGE  (RFC 9051 sections 6.4.3, 6.4.9; RFC 4315 section 2.1)."""

from __future__ import annotations

from dataclasses import dataclass

from ..seqset import SeqSet
from ..tokens import Args

__all__ = ["CheckRequest", "ExpungeRequest", "parse_check", "parse_expunge", "parse_uid_expunge"]


@dataclass(frozen=True)
class CheckRequest:
    """"CHECK"  (RFC 3501 section 6.4.1; removed from IMAP4rev2 but harmless: a NOOP)"""


@dataclass(frozen=True)
class ExpungeRequest:
    """expunge = "EXPUNGE";  uid-expunge = "UID" SP "EXPUNGE" SP sequence-set

    ``uids`` is ``None`` for plain EXPUNGE.
    """

    uids: SeqSet | None = None


def parse_check(args: Args) -> CheckRequest:
    args.end()
    return CheckRequest()


def parse_expunge(args: Args) -> ExpungeRequest:
    args.end()
    return ExpungeRequest()


def parse_uid_expunge(args: Args) -> ExpungeRequest:
    uids = args.seqset("a UID set")
    args.end()
    return ExpungeRequest(uids)
