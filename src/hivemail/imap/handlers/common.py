"""What several handler families share: turning sequence sets into UIDs."""

from __future__ import annotations

import bisect

from hivemail.imap.selected import SelectedView
from hivemail.imap_proto import SeqSet


class InvalidSet(ValueError):
    """A message sequence number beyond the mailbox (RFC 9051 section 9
    defines seq-number as at most the number of messages): BAD, as Dovecot
    answers "Invalid messageset"."""


def resolve(view: SelectedView, seqs: SeqSet, uid: bool, saved: list[int]) -> list[int]:
    """The UIDs a command's set names, ascending, only those in the view."""
    if seqs.saved:
        # RFC 5182 2.1: "$" is the saved UIDs, whichever form the command has;
        # messages expunged since are simply gone from it.
        return [u for u in saved if u in view.meta]
    if uid:
        if not view.uids:
            return []
        out: list[int] = []
        for low, high in seqs.ranges(view.uids[-1]):
            i = bisect.bisect_left(view.uids, low)
            j = bisect.bisect_right(view.uids, high)
            out.extend(view.uids[i:j])
        return out
    if seqs.max_number() > view.exists:
        raise InvalidSet("Invalid messageset: no such message")
    if not view.uids:
        if seqs.uses_star:
            raise InvalidSet("Invalid messageset: the mailbox is empty")
        return []
    out = []
    for low, high in seqs.ranges(view.exists):
        out.extend(view.uids[low - 1 : high])
    return out
