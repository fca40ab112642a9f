"""COPY MOVE and their UID forms  (RFC 9051 sections 6.4.7, 6.4.8; RFC 6851)."""

from __future__ import annotations

from dataclasses import dataclass

from ..seqset import SeqSet
from ..tokens import Args

__all__ = ["CopyRequest", "MoveRequest", "parse_copy", "parse_move", "parse_uid_copy", "parse_uid_move"]


@dataclass(frozen=True)
class CopyRequest:
    """copy = "COPY" SP sequence-set SP mailbox"""

    seqs: SeqSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True)
class MoveRequest:
    """move = "MOVE" SP sequence-set SP mailbox"""

    seqs: SeqSet
    mailbox: str
    uid: bool = False


def _parse(args: Args, uid: bool) -> tuple[SeqSet, str]:
    seqs = args.seqset("a UID set" if uid else "a sequence set")
    mailbox = args.mailbox("a destination mailbox")
    args.end()
    return seqs, mailbox


def parse_copy(args: Args) -> CopyRequest:
    return CopyRequest(*_parse(args, False))


def parse_uid_copy(args: Args) -> CopyRequest:
    return CopyRequest(*_parse(args, True), uid=True)


def parse_move(args: Args) -> MoveRequest:
    return MoveRequest(*_parse(args, False))


def parse_uid_move(args: Args) -> MoveRequest:
    return MoveRequest(*_parse(args, True), uid=True)
