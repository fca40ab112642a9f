"""CONDSTORE and QRESYNC (RFC 7162) over real sockets: exact lines where
clients parse them, following the RFC's examples; and a disconnected
client in the style of RFC 4549 that resynchronises with QRESYNC and ends
with the cache a fresh full download gives."""

from __future__ import annotations

import random
import re
import sqlite3

import pytest

pytestmark = pytest.mark.xdist_group("imap")


def msg(n: int) -> bytes:
    return b"From: a@example.net\r\nSubject: s%d\r\n\r\nbody %d\r\n" % (n, n)


def mailbox_with(imap_server, count: int) -> str:
    user = imap_server.new_user()
    for n in range(1, count + 1):
        imap_server.deliver(user, msg(n))
    return user


def highestmodseq(lines: list[bytes]) -> int:
    for line in lines:
        m = re.search(rb"\[HIGHESTMODSEQ (\d+)\]", line)
        if m:
            return int(m.group(1))
    raise AssertionError(lines)


def modseq_of(line: bytes) -> int:
    return int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))


# -- CONDSTORE ------------------------------------------------------------------


def test_select_condstore_reports_highestmodseq(imap_server):
    """RFC 7162 3.1.2.1 / Example 18: HIGHESTMODSEQ once CONDSTORE is on,
    not before (Dovecot 2.3 likewise)."""
    user = mailbox_with(imap_server, 2)
    c = imap_server.raw(user)
    plain = c.ok("a SELECT INBOX")
    assert not any(b"HIGHESTMODSEQ" in ln for ln in plain)
    lines = c.ok("b SELECT INBOX (CONDSTORE)")
    hms = highestmodseq(lines)
    assert lines[-2] == b"* OK [HIGHESTMODSEQ %d] Highest" % hms
    assert lines[-1] == b"b OK [READ-WRITE] SELECT completed"
    assert c.cmd("c STATUS INBOX (HIGHESTMODSEQ)") == [b"* STATUS INBOX (HIGHESTMODSEQ %d)" % hms, b"c OK STATUS completed"]
    # Enabled for the connection: a plain EXAMINE reports it too.
    assert highestmodseq(c.ok("d EXAMINE INBOX")) == hms


def test_first_enabling_command_while_selected_reports_highestmodseq_once(imap_server):
    """RFC 7162 3.1: the first CONDSTORE enabling command with a mailbox
    selected returns HIGHESTMODSEQ; later ones don't."""
    user = mailbox_with(imap_server, 2)
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    lines = c.cmd("b FETCH 1 (MODSEQ)")
    hms = highestmodseq(lines)
    assert lines == [b"* OK [HIGHESTMODSEQ %d] Highest" % hms, b"* 1 FETCH (MODSEQ (%d))" % modseq_of(lines[1]), b"b OK Fetch completed"]
    assert modseq_of(lines[1]) <= hms
    assert c.cmd("c FETCH 2 (MODSEQ)")[0].startswith(b"* 2 FETCH (MODSEQ (")


def test_store_responses_carry_modseq_once_enabled(imap_server):
    """RFC 7162 3.1.3 and 3.2.4; item order and the FETCH after .SILENT as
    Dovecot 2.3 sends them (UID, MODSEQ, FLAGS)."""
    user = mailbox_with(imap_server, 3)
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    assert c.cmd("b STORE 1 +FLAGS (\\Seen)") == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))", b"b OK STORE completed"]
    c.ok("c ENABLE CONDSTORE")
    lines = c.cmd("d UID STORE 2 +FLAGS (\\Flagged)")
    m = modseq_of(lines[0])
    assert lines == [b"* 2 FETCH (UID 2 MODSEQ (%d) FLAGS (\\Flagged \\Recent))" % m, b"d OK STORE completed"]
    lines = c.cmd("e STORE 3 +FLAGS.SILENT (\\Flagged)")
    assert lines == [b"* 3 FETCH (MODSEQ (%d))" % (m + 1), b"e OK STORE completed"]
    # MODSEQ of an unchanged message goes out as it is (no new MODSEQ).
    assert c.cmd("f STORE 3 +FLAGS (\\Flagged)") == [
        b"* 3 FETCH (MODSEQ (%d) FLAGS (\\Flagged \\Recent))" % (m + 1), b"f OK STORE completed"]


def test_unchangedsince_fails_with_modified(imap_server):
    """RFC 7162 3.1.3, Example 10: messages changed after UNCHANGEDSINCE are
    not stored and are named in [MODIFIED]; the others are."""
    user = mailbox_with(imap_server, 3)
    c = imap_server.raw(user)
    hms = highestmodseq(c.ok("a SELECT INBOX (CONDSTORE)"))
    lines = c.ok("b STORE 2 +FLAGS (\\Answered)")
    m2 = modseq_of(lines[0])
    assert m2 > hms
    lines = c.cmd(f"c STORE 1:3 (UNCHANGEDSINCE {hms}) +FLAGS (\\Seen)")
    assert lines[-1] == b"c OK [MODIFIED 2] Conditional STORE failed"
    assert [ln.split(b" FETCH")[0] for ln in lines[:-1]] == [b"* 1", b"* 3"]
    # UID STORE names UIDs in MODIFIED.
    lines = c.cmd(f"d UID STORE 1:3 (UNCHANGEDSINCE {hms}) -FLAGS.SILENT (\\Seen)")
    assert lines[-1] == b"d OK [MODIFIED 1:3] Conditional STORE failed"


def test_changedsince_fetches_only_what_changed(imap_server):
    """RFC 7162 3.1.4.1, Example 12: CHANGEDSINCE implies MODSEQ."""
    user = mailbox_with(imap_server, 4)
    c = imap_server.raw(user)
    hms = highestmodseq(c.ok("a SELECT INBOX (CONDSTORE)"))
    c.ok("b STORE 2,4 +FLAGS.SILENT ($Work)")
    lines = c.cmd(f"c FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})")
    assert [re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (m)", ln) for ln in lines] == [
        b"* 2 FETCH (FLAGS ($Work \\Recent) MODSEQ (m))",
        b"* 4 FETCH (FLAGS ($Work \\Recent) MODSEQ (m))",
        b"c OK Fetch completed",
    ]
    assert c.cmd(f"d UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq_of(lines[1])})") == [b"d OK Fetch completed"]


def test_search_modseq(imap_server):
    """RFC 7162 3.1.5 / Example 15: the highest MODSEQ of the matches."""
    user = mailbox_with(imap_server, 3)
    c = imap_server.raw(user)
    hms = highestmodseq(c.ok("a SELECT INBOX (CONDSTORE)"))
    m = modseq_of(c.ok("b STORE 3 +FLAGS (\\Deleted)")[0])
    assert c.cmd(f"c SEARCH MODSEQ {hms + 1}") == [b"* SEARCH 3 (MODSEQ %d)" % m, b"c OK SEARCH completed"]
    assert c.cmd(f"d SEARCH MODSEQ {m + 1}") == [b"* SEARCH", b"d OK SEARCH completed"]


def test_other_sessions_changes_carry_modseq(imap_server):
    """RFC 7162 3.1 / Example 14: an external change reaches a CONDSTORE
    client as FETCH with MODSEQ (and UID, 3.2.4)."""
    user = mailbox_with(imap_server, 2)
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX (CONDSTORE)")
    d = imap_server.raw(user)
    d.ok("a SELECT INBOX")
    d.ok("b UID STORE 2 +FLAGS ($Done)")
    lines = c.ok("c NOOP")
    assert re.fullmatch(rb"\* 2 FETCH \(FLAGS \(\$Done \\Recent\) UID 2 MODSEQ \(\d+\)\)", lines[0]), lines


# -- QRESYNC --------------------------------------------------------------------


def test_qresync_must_be_enabled(imap_server):
    """RFC 7162 3.2.5 and 3.2.6: BAD without ENABLE QRESYNC; the mailbox
    stays selected."""
    user = mailbox_with(imap_server, 1)
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    assert c.cmd("b SELECT INBOX (QRESYNC (1 1))")[-1].startswith(b"b BAD ")
    assert c.cmd("c UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].startswith(b"c BAD ")
    c.ok("d FETCH 1 (FLAGS)")  # still selected
    # Enabling (CONDSTORE with it) while selected reports HIGHESTMODSEQ (3.1).
    lines = c.cmd("e ENABLE QRESYNC")
    assert lines[1:] == [b"* ENABLED QRESYNC", b"e OK ENABLE completed"]
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ \d+\] Highest", lines[0])
    # VANISHED needs UID FETCH and CHANGEDSINCE (3.2.6).
    assert c.cmd("f FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].startswith(b"f BAD ")
    assert c.cmd("g UID FETCH 1:* (FLAGS) (VANISHED)")[-1].startswith(b"g BAD ")


def test_enable_qresync_condstore_lists_both(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    assert c.cmd("a ENABLE QRESYNC CONDSTORE") == [b"* ENABLED QRESYNC CONDSTORE", b"a OK ENABLE completed"]
    assert c.cmd("b ENABLE CONDSTORE") == [b"* ENABLED", b"b OK ENABLE completed"]


def test_expunge_is_vanished_once_qresync_is_on(imap_server):
    """RFC 7162 3.2.7 / 3.2.10.2: VANISHED instead of EXPUNGE, for own and
    others' expunges; the tagged OK of EXPUNGE carries HIGHESTMODSEQ; CLOSE
    sends nothing (3.2.8); reselecting says [CLOSED] (3.2.11)."""
    user = mailbox_with(imap_server, 6)
    c = imap_server.raw(user)
    c.ok("a ENABLE QRESYNC")
    c.ok("b SELECT INBOX")
    c.ok("c STORE 2,3,5 +FLAGS.SILENT (\\Deleted)")
    lines = c.cmd("d EXPUNGE")
    assert lines[0] == b"* VANISHED 2:3,5"
    assert re.fullmatch(rb"d OK \[HIGHESTMODSEQ \d+\] EXPUNGE completed", lines[1]), lines
    assert len(lines) == 2
    other = imap_server.raw(user)
    other.ok("a SELECT INBOX")
    other.ok("b UID STORE 6 +FLAGS.SILENT (\\Deleted)")
    other.ok("c UID EXPUNGE 6")
    assert c.cmd("e NOOP") == [b"* VANISHED 6", b"e OK NOOP completed"]
    c.ok("f STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd("g CLOSE") == [b"g OK CLOSE completed"]
    c.ok("h SELECT INBOX")
    assert c.cmd("i SELECT INBOX")[0] == b"* OK [CLOSED] Previous mailbox is now closed"


def test_no_vanished_during_fetch_store_search(imap_server):
    """RFC 7162 3.2.10: VANISHED has EXPUNGE's restrictions (RFC 9051 7.5.1):
    not during FETCH, STORE or SEARCH."""
    user = mailbox_with(imap_server, 3)
    c = imap_server.raw(user)
    c.ok("a ENABLE QRESYNC")
    c.ok("b SELECT INBOX")
    other = imap_server.raw(user)
    other.ok("a SELECT INBOX")
    other.ok("b STORE 2 +FLAGS.SILENT (\\Deleted)")
    other.ok("c EXPUNGE")
    assert not any(b"VANISHED" in ln for ln in c.ok("c FETCH 1:* (FLAGS)"))
    assert not any(b"VANISHED" in ln for ln in c.ok("d SEARCH ALL"))
    assert c.cmd("e NOOP") == [b"* VANISHED 2", b"e OK NOOP completed"]


def test_select_qresync_reports_what_changed(imap_server):
    """RFC 7162 3.2.5.1, the example after it: VANISHED (EARLIER) for the
    expunged, then FETCH (UID FLAGS MODSEQ) for the changed, within the
    known UIDs; a UIDVALIDITY mismatch ignores the rest."""
    user = mailbox_with(imap_server, 8)
    c = imap_server.raw(user)
    c.ok("a ENABLE QRESYNC")
    lines = c.ok("b SELECT INBOX")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1))
    hms = highestmodseq(lines)
    c.ok("c UID STORE 3,5 +FLAGS.SILENT (\\Deleted)")
    c.ok("d EXPUNGE")
    c.ok("e UID STORE 7 +FLAGS.SILENT ($Seen2)")
    imap_server.deliver(user, msg(9))
    c.ok("f UNSELECT")

    lines = c.cmd(f"g SELECT INBOX (QRESYNC ({uidvalidity} {hms}))")
    assert b"* VANISHED (EARLIER) 3,5" in lines
    fetches = [ln for ln in lines if b" FETCH " in ln]
    assert [re.sub(rb"MODSEQ \(\d+\)| ?\\Recent", b"", f) for f in fetches] == [
        b"* 5 FETCH (UID 7 FLAGS ($Seen2) )",
        b"* 7 FETCH (UID 9 FLAGS () )",
    ]
    # VANISHED before the FETCHes, both after the OKs of SELECT.
    assert lines.index(b"* VANISHED (EARLIER) 3,5") < lines.index(fetches[0])
    assert lines[-1] == b"g OK [READ-WRITE] SELECT completed"

    # Known UIDs restrict both (3.2.5.1).
    lines = c.cmd(f"h SELECT INBOX (QRESYNC ({uidvalidity} {hms} 1:4))")
    assert b"* VANISHED (EARLIER) 3" in lines
    assert not any(b" FETCH " in ln for ln in lines)
    # Another UIDVALIDITY: as if nothing had changed.
    lines = c.cmd(f"i SELECT INBOX (QRESYNC ({uidvalidity + 1} {hms}))")
    assert not any(b"VANISHED" in ln or b" FETCH " in ln for ln in lines)
    assert lines[-1] == b"i OK [READ-WRITE] SELECT completed"


def test_uid_fetch_vanished(imap_server):
    """RFC 7162 3.2.6, Example 1 shape: VANISHED (EARLIER) before the FETCHes."""
    user = mailbox_with(imap_server, 6)
    c = imap_server.raw(user)
    c.ok("a ENABLE QRESYNC")
    hms = highestmodseq(c.ok("b SELECT INBOX"))
    c.ok("c UID STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    c.ok("d UID EXPUNGE 2")
    c.ok("e UID STORE 5 +FLAGS.SILENT (\\Seen)")
    lines = c.cmd(f"f UID FETCH 3:6 (FLAGS) (CHANGEDSINCE {hms} VANISHED)")
    # UID 2 is outside 3:6; UID 4 is still there (flag change only).
    assert [re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (m)", ln) for ln in lines] == [
        b"* 3 FETCH (UID 4 FLAGS (\\Deleted \\Recent) MODSEQ (m))",
        b"* 4 FETCH (UID 5 FLAGS (\\Seen \\Recent) MODSEQ (m))",
        b"f OK Fetch completed",
    ]
    lines = c.cmd(f"g UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms} VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 2"


@pytest.mark.embedded_only  # prunes the tombstones in the SQLite index by hand
def test_pruned_tombstones_fall_back_to_every_missing_uid(imap_server):
    """Past the remembered expunges (the store's expunge_floor), VANISHED
    (EARLIER) names every missing UID of the known set (RFC 7162 3.2.6
    note), and sequence match data narrows it (3.2.5.2)."""
    user = mailbox_with(imap_server, 10)
    c = imap_server.raw(user)
    c.ok("a ENABLE QRESYNC")
    lines = c.ok("b SELECT INBOX")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1))
    c.ok("c UID STORE 2,6,9 +FLAGS.SILENT (\\Deleted)")
    lines = c.ok("d EXPUNGE")
    hms = highestmodseq(lines)
    c.ok("e UNSELECT")
    # Pretend every tombstone up to now was pruned.
    db = sqlite3.connect(imap_server.data_dir / "index.sqlite3", timeout=30)
    with db:
        db.execute("UPDATE mailboxes SET expunge_floor = ? WHERE name = 'INBOX' AND account_id ="
                   " (SELECT id FROM accounts WHERE name = ?)", (hms, user))
        db.execute("DELETE FROM expunged WHERE mailbox_id IN (SELECT m.id FROM mailboxes m JOIN accounts a"
                   " ON a.id = m.account_id WHERE a.name = ?)", (user,))
    db.close()
    lines = c.cmd(f"f SELECT INBOX (QRESYNC ({uidvalidity} 1))")
    assert b"* VANISHED (EARLIER) 2,6,9" in lines
    # The client knows seq 4 is UID 5 (still true): nothing up to 5 is reported.
    lines = c.cmd(f"g SELECT INBOX (QRESYNC ({uidvalidity} 1 1:10 (4 5)))")
    assert b"* VANISHED (EARLIER) 6,9" in lines
    # A pair that no longer matches stops the narrowing (seq 5 is UID 7 now).
    lines = c.cmd(f"h SELECT INBOX (QRESYNC ({uidvalidity} 1 1:10 (4,5 5,6)))")
    assert b"* VANISHED (EARLIER) 6,9" in lines


# -- RFC 4549: a disconnected client ------------------------------------------


class CachingClient:
    """A client cache as RFC 4549 describes: per UID its flags, plus the
    mailbox's UIDVALIDITY and HIGHESTMODSEQ; kept in step only from what the
    server says."""

    def __init__(self) -> None:
        self.uidvalidity = 0
        self.modseq = 0
        self.flags: dict[int, frozenset[bytes]] = {}

    def full_download(self, c) -> None:
        lines = c.ok("s SELECT INBOX (CONDSTORE)")
        self.uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1))
        self.modseq = highestmodseq(lines)
        self.flags = dict(_uid_flags(c.ok("f UID FETCH 1:* (FLAGS)")))

    def resync(self, c) -> None:
        known = ",".join(str(u) for u in sorted(self.flags)) if self.flags else None
        params = f"{self.uidvalidity} {self.modseq}" + (f" {known}" if known else "")
        lines = c.ok(f"q SELECT INBOX (QRESYNC ({params}))")
        for line in lines:
            m = re.match(rb"\* VANISHED \(EARLIER\) (\S+)", line)
            if m:
                for uid in _expand(m.group(1)):
                    self.flags.pop(uid, None)
        self.flags.update(_uid_flags(lines))
        self.modseq = highestmodseq(lines)
        # New messages above the cache are fetched by UID range as a client does.
        top = max(self.flags, default=0)
        self.flags.update(_uid_flags(c.ok(f"n UID FETCH {top + 1}:* (FLAGS)")))


def _uid_flags(lines):
    for line in lines:
        m = re.match(rb"\* \d+ FETCH \((.*)\)$", line)
        if m:
            body = m.group(1)
            uid = int(re.search(rb"UID (\d+)", body).group(1))
            flags = re.search(rb"FLAGS \(([^)]*)\)", body).group(1).split()
            yield uid, frozenset(f for f in flags if f != b"\\Recent")


def _expand(text: bytes):
    for part in text.split(b","):
        lo, _, hi = part.partition(b":")
        yield from range(int(lo), int(hi or lo) + 1)


@pytest.mark.parametrize("seed", range(4))
def test_disconnected_client_resyncs_to_a_fresh_download(imap_server, seed):
    rng = random.Random(seed)
    user = mailbox_with(imap_server, 12)
    cache = CachingClient()
    c = imap_server.raw(user)
    c.ok("e ENABLE QRESYNC")
    cache.full_download(c)
    c.close()
    for _round in range(3):
        # Offline: another device changes flags, expunges, and mail arrives.
        other = imap_server.raw(user)
        other.ok("s SELECT INBOX")
        uids = [u for u, _ in _uid_flags(other.ok("f UID FETCH 1:* (FLAGS)"))]
        for _ in range(rng.randint(1, 6)):
            action = rng.choice(["flag", "flag", "unflag", "expunge", "deliver"])
            if action == "deliver" or not uids:
                imap_server.deliver(user, msg(rng.randint(100, 999)))
                continue
            uid = rng.choice(uids)
            if action == "flag":
                other.ok(f"a UID STORE {uid} +FLAGS (\\Flagged $K{rng.randint(1, 3)})")
            elif action == "unflag":
                other.ok(f"a UID STORE {uid} -FLAGS (\\Seen \\Flagged)")
            else:
                other.ok(f"a UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
                other.ok(f"b UID EXPUNGE {uid}")
                uids.remove(uid)
        other.close()
        # Back online.
        c = imap_server.raw(user)
        c.ok("e ENABLE QRESYNC")
        cache.resync(c)
        c.close()
        fresh = CachingClient()
        d = imap_server.raw(user)
        fresh.full_download(d)
        d.close()
        assert cache.flags == fresh.flags
        assert cache.modseq == fresh.modseq


def test_sort_with_modseq_reports_highest_modseq(imap_server):
    """RFC 7162 3.1.9 and 3.1.10 (Example 20): SORT appends (MODSEQ n),
    ESORT gives it in ESEARCH, THREAD is unchanged; SORT is a CONDSTORE
    enabling command like SEARCH."""
    user = mailbox_with(imap_server, 3)
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    lines = c.cmd("b SORT (ARRIVAL) UTF-8 MODSEQ 1")
    hms = highestmodseq(lines)
    assert lines[1:] == [b"* SORT 1 2 3 (MODSEQ %d)" % hms, b"b OK SORT completed"]
    m = modseq_of(c.ok("c STORE 2 +FLAGS (\\Seen)")[0])
    assert c.cmd(f"d SORT RETURN (ALL) (DATE) UTF-8 MODSEQ {m}") == [
        b'* ESEARCH (TAG "d") ALL 2 MODSEQ %d' % m, b"d OK SORT completed"]
    assert c.cmd(f"e SORT (DATE) UTF-8 MODSEQ {m + 1}") == [b"* SORT", b"e OK SORT completed"]
    assert c.cmd("f THREAD REFERENCES UTF-8 MODSEQ 1") == [b"* THREAD (1)(2)(3)", b"f OK THREAD completed"]
