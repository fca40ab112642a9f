"""POP3 and IMAP on one account at once, for each DELE setting.

The IMAP side flags, appends and expunges while POP3 downloads every message
of its maildrop and deletes half of them. It runs in two forms: a real IMAP
client (imaplib) on the server's IMAP listener, and the store API itself from
a thread with its own ``EmbeddedStore`` on the same data directory (so its
writes, and its collection of unreferenced files, come from another process
than the server's, which is what the POP3 blob pins must survive).
Afterwards all views agree: the next POP3 session lists exactly what the
store holds, a fresh IMAP session sees the same UIDs and flags, and the store
holds exactly what the two sides' actions imply.
"""

from __future__ import annotations

import asyncio
import imaplib
import poplib
import random
import smtplib
import threading

import pytest

from tests.support.backend import open_store
from hivemail.mailstore.types import FlagMode
from hivemail.mime.analysis import analyse
from hivemail.pop3.uidl import compile_format
from tests.support.server import HivemailServer, cli

pytestmark = pytest.mark.xdist_group("pop3-imap")

USER = "both@example.org"
PASSWORD = "pw"
N = 60
# The IMAP side expunges these UIDs during the POP3 session (never \Seen, so
# the outcome does not depend on timing).
IMAP_EXPUNGES = {u for u in range(1, N + 1) if u % 7 == 0}
IMAP_APPENDS = 10


def imap_side(data_dir, started: threading.Event, done: threading.Event, errors: list) -> None:
    async def main() -> None:
        store = open_store(data_dir)
        await store.open()
        try:
            box = await store.get_mailbox(USER, "INBOX")
            rnd = random.Random(7)
            started.set()
            pending = sorted(IMAP_EXPUNGES)
            for i in range(40):  # bounded
                uids = rnd.sample(range(1, N + 1), 5)
                await store.store_flags(box.id, uids, rnd.choice([FlagMode.ADD, FlagMode.REMOVE]),
                                        ["\\Flagged", "$Label1"])
                if i < IMAP_APPENDS:
                    raw = b"Subject: imap append %d\r\n\r\nappended during POP3\r\n" % i
                    await store.append(USER, "INBOX", raw, analyse(raw).to_bytes())
                if pending and i % 3 == 0:
                    uid = pending.pop()
                    await store.store_flags(box.id, [uid], FlagMode.ADD, ["\\Deleted"])
                    await store.expunge(box.id, [uid])
                await asyncio.sleep(0.005)
            for uid in pending:
                await store.store_flags(box.id, [uid], FlagMode.ADD, ["\\Deleted"])
                await store.expunge(box.id, [uid])
        finally:
            await store.close()  # collects unreferenced files: the pins must hold

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        started.set()
        done.set()


def imap_side_real(port: int, started: threading.Event, done: threading.Event, errors: list) -> None:
    """The same actions as :func:`imap_side`, through a real IMAP session."""
    try:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
        m.login(USER, PASSWORD)
        m.select("INBOX")
        rnd = random.Random(7)
        started.set()
        pending = sorted(IMAP_EXPUNGES)
        for i in range(40):  # bounded
            uids = ",".join(map(str, rnd.sample(range(1, N + 1), 5)))
            op = rnd.choice(["+FLAGS", "-FLAGS"])
            assert m.uid("STORE", uids, op, "(\\Flagged $Label1)")[0] == "OK"
            if i < IMAP_APPENDS:
                raw = b"Subject: imap append %d\r\n\r\nappended during POP3\r\n" % i
                assert m.append("INBOX", None, None, raw)[0] == "OK"
            if pending and i % 3 == 0:
                uid = str(pending.pop())
                assert m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
                assert m.uid("EXPUNGE", uid)[0] == "OK"
        for uid in pending:
            m.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
            assert m.uid("EXPUNGE", str(uid))[0] == "OK"
        m.logout()
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        started.set()
        done.set()


def imap_view(port: int, mailbox: str) -> dict[int, set[str]]:
    """UID -> flags, as a fresh IMAP session sees the mailbox."""
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    m.login(USER, PASSWORD)
    m.select(mailbox, readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
    m.logout()
    out = {}
    for item in data:
        if not item:
            continue
        text = item.decode() if isinstance(item, bytes) else item[0].decode()
        uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
        flags = text.split("FLAGS (")[1].split(")")[0].split()
        # \Recent is session state (rev1), not a stored flag.
        out[uid] = set(flags) - {"\\Recent"}
    return out


def snapshot(data_dir, mailbox: str):
    async def main():
        store = open_store(data_dir)
        await store.open()
        try:
            return await store.snapshot(USER, mailbox)
        finally:
            await store.close()
    return asyncio.run(main())


@pytest.mark.parametrize("side", ["imap", "store"])
@pytest.mark.parametrize("action", ["expunge", "trash", "keep-read"])
def test_pop3_and_imap_at_once_agree(tmp_path, action, side):
    data = tmp_path / "data"
    cli(data, "user", "add", USER, "--password", PASSWORD)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[pop3]\ndele = "{action}"\n')
    with HivemailServer(data, listeners=("pop3", "imap", "lmtp"), extra=("--config", str(cfg))) as server:
        with smtplib.LMTP("127.0.0.1", server.ports["lmtp"]) as lmtp:
            for i in range(N):
                lmtp.sendmail("s@example.com", [USER], b"Subject: m%d\r\n\r\nmessage %d\r\n" % (i + 1, i + 1))

        p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=30)
        p.user(USER)
        p.pass_(PASSWORD)
        count, _ = p.stat()
        assert count == N
        _resp, uidls, _ = p.uidl()
        login_uidls = [line.split()[1].decode() for line in uidls]

        started, done, errors = threading.Event(), threading.Event(), []
        if side == "imap":
            t = threading.Thread(target=imap_side_real, args=(server.ports["imap"], started, done, errors))
        else:
            t = threading.Thread(target=imap_side, args=(data, started, done, errors))
        t.start()
        started.wait(30)
        retrieved = {}
        deleted_uids = set()
        for n in range(1, N + 1):  # every message, including those IMAP expunges meanwhile
            _resp, lines, _ = p.retr(n)
            retrieved[n] = b"\r\n".join(lines)
            assert b"message %d" % n in retrieved[n]
            if n % 2:
                assert p.dele(n).startswith(b"+OK")
                deleted_uids.add(n)
        done.wait(60)
        t.join(60)
        assert not errors, errors
        # the maildrop did not move while IMAP worked
        assert p.stat() == (N - len(deleted_uids), p.stat()[1])
        _resp, uidls, _ = p.uidl()
        assert [line.split()[1].decode() for line in uidls] == [
            u for i, u in enumerate(login_uidls, 1) if i not in deleted_uids]
        assert p.quit().startswith(b"+OK Logging out")
        assert server.tracebacks() == []

        inbox = snapshot(data, "INBOX")
        fmt = compile_format("dovecot")
        present = {m.uid for m in inbox.messages}
        original = set(range(1, N + 1))
        appended = set(range(N + 1, N + 1 + IMAP_APPENDS))
        if action == "keep-read":
            assert present == (original - IMAP_EXPUNGES) | appended
        else:
            assert present == (original - IMAP_EXPUNGES - deleted_uids) | appended
        # RETR marked \Seen whatever IMAP did to other flags; appended ones are unseen
        for m in inbox.messages:
            assert ("\\Seen" in m.flags) == (m.uid in original), (m.uid, m.flags)
        if action == "trash":
            trash = snapshot(data, "Trash")
            assert len(trash.messages) == len(deleted_uids - IMAP_EXPUNGES)

        # the IMAP view of a new session is the store's view
        assert imap_view(server.ports["imap"], "INBOX") == {m.uid: set(m.flags) for m in inbox.messages}

        # the POP3 view of a new session is the store's view
        p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=30)
        p.user(USER)
        p.pass_(PASSWORD)
        _resp, listing, _ = p.list()
        _resp, uidls, _ = p.uidl()
        assert [int(line.split()[1]) for line in listing] == [m.size for m in inbox.messages]
        assert [line.split()[1].decode() for line in uidls] == [
            fmt(inbox.mailbox.uidvalidity, m.uid) for m in inbox.messages]
        # UIDLs of messages that stayed are those of the first session
        for m in inbox.messages:
            if m.uid in original:
                assert fmt(inbox.mailbox.uidvalidity, m.uid) == login_uidls[m.uid - 1]
        p.quit()
        assert server.tracebacks() == []
