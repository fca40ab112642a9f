"""What a reconnecting client missed (RFC 7162 section 3.2): the expunged
UIDs for VANISHED (EARLIER) and the messages whose flags changed, both
answered from the store's change log (rows and tombstones with MODSEQ
above the client's), never by scanning every message.

SELECT ... (QRESYNC ...) and UID FETCH ... (CHANGEDSINCE m VANISHED) share
this. Both report only against the session's view: a UID the store has
expunged but the view still numbers is not "vanished earlier" (the client
would drop it while still counting it); it is reported later, as VANISHED
without EARLIER, when expunges may be sent.

How long expunges are remembered: every expunge leaves a tombstone (UID,
MODSEQ) that is kept as long as the mailbox exists (about 30 bytes each).
A store that pruned tombstones (``mailboxes.expunge_floor`` > 0) answers a
MODSEQ older than the newest pruned one with every UID below UIDNEXT that
is no longer present, restricted to the client's known UIDs and sequence
match data: more than the client needs, never less, as RFC 7162 3.2.6
("MUST behave as if it was requested to report all expunged messages")
asks.
"""

from __future__ import annotations

import bisect

from hivemail.imap.selected import SelectedView
from hivemail.imap_proto.seqset import SeqSet
from hivemail.mailstore import Changes


def within(numbers, uid_set: SeqSet | None, largest: int) -> list[int]:
    """The ``numbers`` (ascending) that are in ``uid_set`` (None: all)."""
    if uid_set is None:
        return [n for n in numbers if n <= largest]
    ranges = uid_set.ranges(largest)
    lows = [lo for lo, _ in ranges]
    out = []
    for n in numbers:
        i = bisect.bisect_right(lows, n) - 1
        if i >= 0 and n <= ranges[i][1]:
            out.append(n)
    return out


def matched_floor(view: SelectedView, seqs: SeqSet | None, uids: SeqSet | None) -> int:
    """RFC 7162 3.2.5.2: the client's (sequence number, UID) sample pairs,
    ascending; every pair that still matches the mailbox says the client
    knows all expunges up to that UID. Returns the lowest UID that may
    still be reported (1: nothing known)."""
    if seqs is None or uids is None:
        return 1
    floor = 1
    pairs = zip(seqs.iter(2**32), uids.iter(2**32))
    for seq, uid in pairs:
        if seq > view.exists or view.uid_of(seq) != uid:
            break
        floor = uid + 1
    return floor


def vanished_earlier(view: SelectedView, changes: Changes, uid_set: SeqSet | None, floor: int = 1) -> list[int]:
    """UIDs of ``uid_set`` expunged since the change log's starting point,
    ascending, none the view still numbers."""
    largest = max(view.uidnext - 1, max(changes.expunged, default=0))
    gone = [u for u in sorted(changes.expunged) if u >= floor and view.seq_of(u) is None]
    return within(gone, uid_set, largest)


def changed_uids(view: SelectedView, changes: Changes, since: int, uid_set: SeqSet | None) -> list[int]:
    """UIDs of ``uid_set`` the view holds with a MODSEQ above ``since``,
    ascending. The change log names the candidates; the view's own row
    decides (a change newer than the view is sent later as an update)."""
    candidates = {m.uid for m in changes.appended} | {u.uid for u in changes.flag_updates}
    table = view.table
    out = []
    for uid in sorted(candidates):
        i = table.index(uid)
        if i is not None and table.modseqs[i] > since:
            out.append(uid)
    return within(out, uid_set, max(view.uidnext - 1, out[-1] if out else 0))
