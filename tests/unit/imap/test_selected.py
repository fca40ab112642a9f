"""The selected-mailbox view: change records -> untagged updates, with
EXPUNGE held back while a non-UID FETCH/STORE/SEARCH runs (RFC 9051 7.5.1)."""

from datetime import datetime, timezone

from hivemail.imap.selected import Exists, Expunge, FlagsChanged, SelectedView
from hivemail.mailstore import Changes, FlagUpdate, MailboxInfo, MailboxSnapshot, MessageMeta

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def meta(uid, flags=(), modseq=1):
    return MessageMeta(uid, modseq, frozenset(flags), T, T, 100, f"b{uid}")


def view(uids):
    mb = MailboxInfo(1, 1, "INBOX", 7, max(uids, default=0) + 1, 10, True, None)
    return SelectedView.from_snapshot(MailboxSnapshot(mb, tuple(meta(u) for u in uids)), read_only=False)


def test_numbering():
    v = view([3, 5, 9])
    assert (v.exists, v.seq_of(5), v.uid_of(3), v.seq_of(4)) == (3, 2, 9, None)


def test_expunges_are_reported_highest_first_and_renumber():
    v = view([1, 2, 3, 4])
    out = v.apply(Changes(1, 11, 5, expunged=(2, 4)), allow_expunge=True)
    assert out == [Expunge(4, 4), Expunge(2, 2)]
    assert list(v.uids) == [1, 3]


def test_expunge_held_back_keeps_numbers_until_allowed():
    v = view([1, 2, 3])
    out = v.apply(Changes(1, 11, 5, expunged=(1,), appended=(meta(4),)), allow_expunge=False)
    # EXISTS may be sent at any time and counts the not-yet-reported expunge.
    assert out == [Exists(4)]
    assert v.seq_of(3) == 3 and v.is_expunged(1)
    assert v.apply(Changes(1, 11, 5), allow_expunge=True) == [Expunge(1, 1)]
    assert list(v.uids) == [2, 3, 4]


def test_flag_changes_from_others_become_fetch():
    v = view([1, 2])
    out = v.apply(Changes(1, 12, 3, flag_updates=(FlagUpdate(2, frozenset({"\\Seen"}), 12),)), allow_expunge=True)
    assert out == [FlagsChanged(2, 2, frozenset({"\\Seen"}), 12)]


def test_own_flag_changes_are_not_echoed():
    v = view([1, 2])
    v.note_own_flags([(1, frozenset({"\\Flagged"}), 11)])
    out = v.apply(Changes(1, 11, 3, flag_updates=(FlagUpdate(1, frozenset({"\\Flagged"}), 11),)), allow_expunge=True)
    assert out == []


def test_appended_then_expunged_before_seen_is_never_announced():
    v = view([1])
    assert v.apply(Changes(1, 12, 3, expunged=(2,), appended=(meta(2),)), allow_expunge=True) == []
    assert list(v.uids) == [1]


def test_shared_table_is_copied_before_the_first_change():
    from hivemail.mailstore.table import MessageTable

    table = MessageTable.from_metas([meta(1), meta(2)])
    mb = MailboxInfo(1, 1, "INBOX", 7, 3, 10, True, None)
    a = SelectedView.from_table(mb, table, read_only=False, shared=True)
    b = SelectedView.from_table(mb, table, read_only=False, shared=True)
    a.apply(Changes(1, 11, 3, expunged=(1,)), allow_expunge=True)
    b.note_own_flags([(2, frozenset({"\\Seen"}), 12)])
    assert list(a.uids) == [2] and list(b.uids) == [1, 2] and list(table.uids) == [1, 2]
    assert table.flags(1) == frozenset() and b.table.flags(1) == frozenset({"\\Seen"})


def test_a_stale_flag_update_never_undoes_a_newer_row():
    """Found by the consistency checker: a change-log read begun before this
    session's own STORE must not put the older flags back."""
    v = view([1])
    v.note_own_flags([(1, frozenset({"$mine"}), 15)])
    stale = Changes(1, 14, 2, flag_updates=(FlagUpdate(1, frozenset(), 14),))
    assert v.apply(stale, allow_expunge=True) == []
    assert v.table.flags(0) == frozenset({"$mine"})
