"""SELECT EXAMINE CLOSE UNSELECT  (RFC 9051 sections 6.3.2, 6.3.3, 6.4.1, 6.4.2; RFC 7162)."""

from __future__ import annotations

from dataclasses import dataclass

from ..seqset import SeqSet
from ..tokens import Args, Atom

__all__ = [
    "SelectRequest",
    "QResync",
    "CloseRequest",
    "UnselectRequest",
    "parse_select",
    "parse_examine",
    "parse_close",
    "parse_unselect",
]


@dataclass(frozen=True)
class QResync:
    """select-param =/ "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
                       [SP known-uids] [SP seq-match-data] ")"
    seq-match-data  = "(" known-sequence-set SP known-uid-set ")"
    (RFC 7162 section 7)"""

    uidvalidity: int
    modseq: int
    known_uids: SeqSet | None = None
    known_seqs: SeqSet | None = None
    known_seq_uids: SeqSet | None = None


@dataclass(frozen=True)
class SelectRequest:
    """select = "SELECT" SP mailbox [select-params]     ; examine likewise
    select-params = SP "(" select-param *(SP select-param) ")"   (RFC 4466)
    select-param  =/ "CONDSTORE"                               (RFC 7162 section 7)

    ``readonly`` is true for EXAMINE.
    """

    mailbox: str
    readonly: bool = False
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True)
class CloseRequest:
    """close = "CLOSE"  (RFC 9051 section 6.4.1)"""


@dataclass(frozen=True)
class UnselectRequest:
    """unselect = "UNSELECT"  (RFC 9051 section 6.4.2)"""


def _select(args: Args, readonly: bool) -> SelectRequest:
    mailbox = args.mailbox()
    condstore = False
    qresync = None
    if not args.at_end():
        params = args.list("select parameters")
        args.end()
        while not params.at_end():
            name = params.keyword("a select parameter")
            if name == "CONDSTORE":
                condstore = True
            elif name == "QRESYNC":
                if qresync is not None:
                    raise args.error("QRESYNC given twice")
                q = params.list("QRESYNC parameters")
                uidvalidity = q.number("a UIDVALIDITY", nonzero=True)
                modseq = q.number("a mod-sequence value", bits64=True)
                known_uids = known_seqs = known_seq_uids = None
                if isinstance(q.peek(), Atom):
                    known_uids = q.seqset("known UIDs", allow_saved=False)
                if not q.at_end():
                    match = q.list("sequence match data")
                    known_seqs = match.seqset("known sequence numbers", allow_saved=False)
                    known_seq_uids = match.seqset("known UIDs", allow_saved=False)
                    match.end()
                q.end()
                qresync = QResync(uidvalidity, modseq, known_uids, known_seqs, known_seq_uids)
            else:
                raise args.error(f"unknown select parameter {name}")
    return SelectRequest(mailbox, readonly, condstore, qresync)


def parse_select(args: Args) -> SelectRequest:
    return _select(args, readonly=False)


def parse_examine(args: Args) -> SelectRequest:
    return _select(args, readonly=True)


def parse_close(args: Args) -> CloseRequest:
    args.end()
    return CloseRequest()


def parse_unselect(args: Args) -> UnselectRequest:
    args.end()
    return UnselectRequest()
