"""A full disk over real sockets: temporary errors, no damage, recovery.

The data directory sits on a small tmpfs (``mount -t tmpfs -o size=...``;
needs root or CAP_SYS_ADMIN, else the test skips), which a filler file then
fills to the last byte: a real ENOSPC for message files *and* SQLite, with
no fault-injection hook in the server.  While the disk is full:

* LMTP and SMTP answer ``452 4.3.1`` (RFC 3463 "Mail system full"; RFC 5321
  452 "insufficient system storage"): the sender keeps the message;
* IMAP APPEND answers ``NO [OVERQUOTA]`` (why OVERQUOTA: ``imap/errors.py``);
* POP3 answers ``-ERR [SYS/TEMP]`` when what it writes (the maildrop
  opened at login, the deletions at QUIT) cannot be written, and the
  messages stay;
* no partial message file is visible (``blobs/tmp`` is empty, no new blob).

After the filler is removed the next delivery, APPEND and POP3 commit
succeed, and ``hivemail check`` finds the store clean.
"""

from __future__ import annotations

import errno
import imaplib
import os
import poplib
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.ci import skip_or_fail

from tests.support.server import HivemailServer, cli

# The embedded store's own disk filling up (PostgreSQL reports its own
# DiskFullError as NO_SPACE: postgres/base.py).
pytestmark = [pytest.mark.xdist_group("full-disk"), pytest.mark.embedded_only]

USER = "full@example.org"
PASSWORD = "pw"
DISK_MB = 24
BODY = b"".join(b"line %05d of a message that does not fit on a full disk\r\n" % i for i in range(200))


def _mount_tmpfs(where: Path) -> None:
    where.mkdir()
    if os.geteuid() != 0:
        skip_or_fail("mounting a size-limited tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0755", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        skip_or_fail(f"cannot mount tmpfs here: {proc.stderr.strip()}")


def _fill(disk: Path) -> Path:
    """Write a filler file until the filesystem has not one byte left."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    st = os.statvfs(disk)
    assert st.f_bavail == 0
    return filler


def _lmtp(port: int, rcpts: list[str], body: bytes, lmtp: bool = True) -> list[bytes]:
    """One transaction over a raw socket; returns the replies to DATA (one per
    recipient for LMTP)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")

        def reply() -> bytes:
            while True:
                line = f.readline()
                assert line, "server closed the connection"
                if line[3:4] != b"-":
                    return line.rstrip()

        reply()
        s.sendall(b"LHLO test\r\n" if lmtp else b"EHLO test\r\n")
        reply()
        s.sendall(b"MAIL FROM:<sender@example.net>\r\n")
        assert reply().startswith(b"250")
        for r in rcpts:
            s.sendall(b"RCPT TO:<%s>\r\n" % r.encode())
            assert reply().startswith(b"250")
        s.sendall(b"DATA\r\n")
        assert reply().startswith(b"354")
        s.sendall(b"From: sender@example.net\r\nTo: %s\r\nSubject: disk\r\n\r\n" % rcpts[0].encode() + body + b".\r\n")
        replies = [reply() for _ in (rcpts if lmtp else [None])]
        s.sendall(b"QUIT\r\n")
        return replies


def _blob_files(data: Path) -> tuple[set[str], list[str]]:
    blobs = data / "blobs"
    names = {p.name for d in blobs.iterdir() if d.name != "tmp" and d.is_dir() for p in d.iterdir()}
    return names, sorted(os.listdir(blobs / "tmp"))


def _imap_append(port: int, body: bytes) -> tuple[str, bytes]:
    imap = imaplib.IMAP4("127.0.0.1", port)
    try:
        imap.login(USER, PASSWORD)
        try:
            typ, data = imap.append("INBOX", None, None, b"Subject: append\r\n\r\n" + body)
        except imaplib.IMAP4.error as exc:  # imaplib raises on NO
            return "NO", str(exc).encode()
        return typ, data[0]
    finally:
        imap.logout()


def _pop3_delete_first(port: int) -> tuple[int, bytes]:
    """(messages listed, reply to QUIT) after DELE 1; (-1, reply) if the login
    itself failed (opening the maildrop writes to the index)."""
    pop = poplib.POP3("127.0.0.1", port, timeout=30)
    pop.user(USER)
    try:
        pop.pass_(PASSWORD)
    except poplib.error_proto as exc:
        pop.close()
        return -1, exc.args[0]
    count = pop.stat()[0]
    pop.dele(1)
    try:
        answer = pop.quit()
    except poplib.error_proto as exc:
        answer = exc.args[0]
    return count, answer


def test_full_disk_gives_temporary_errors_and_recovers(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk)
    try:
        data = disk / "data"
        cli(data, "user", "add", USER, "--password", PASSWORD)
        with HivemailServer(data, listeners=("lmtp", "smtp", "imap", "pop3")) as server:
            for _ in range(3):
                assert _lmtp(server.ports["lmtp"], [USER], b"before\r\n")[0].startswith(b"250 2.0.0")
            blobs_before, tmp_before = _blob_files(data)
            assert tmp_before == []

            filler = _fill(disk)

            [lmtp_reply] = _lmtp(server.ports["lmtp"], [USER], BODY)
            assert lmtp_reply.startswith(b"452 4.3.1"), lmtp_reply
            [smtp_reply] = _lmtp(server.ports["smtp"], [USER], BODY + b"smtp\r\n", lmtp=False)
            assert smtp_reply.startswith(b"452 4.3.1"), smtp_reply
            typ, text = _imap_append(server.ports["imap"], BODY)
            assert typ == "NO" and b"[OVERQUOTA]" in text, (typ, text)
            append_reply = text
            count, pop3_reply = _pop3_delete_first(server.ports["pop3"])
            assert count in (-1, 3)
            pop3_failed = pop3_reply.startswith(b"-ERR")
            pop3_stage = "PASS" if count == -1 else "QUIT"
            if pop3_failed:
                assert pop3_reply.startswith(b"-ERR [SYS/TEMP]"), pop3_reply
            # nothing half-written is visible
            assert _blob_files(data) == (blobs_before, [])

            filler.unlink()

            assert _lmtp(server.ports["lmtp"], [USER], BODY)[0].startswith(b"250 2.0.0")
            assert _lmtp(server.ports["smtp"], [USER], BODY + b"smtp\r\n", lmtp=False)[0].startswith(b"250")
            typ, text = _imap_append(server.ports["imap"], BODY)
            assert typ == "OK" and b"[APPENDUID" in text, (typ, text)
            expected = 3 + 3 - (0 if pop3_failed else 1)
            count, quit_reply = _pop3_delete_first(server.ports["pop3"])
            assert count == expected and quit_reply.startswith(b"+OK"), (count, quit_reply)
            assert not server.tracebacks(), "\n".join(server.log)
            log = "\n".join(server.log)
        report = cli(data, "check").stdout.decode()
        assert "store is clean" in report, report
        assert "disk space" in log  # the cause is logged, not just a code
        print(f"full disk: LMTP {lmtp_reply!r}; SMTP {smtp_reply!r}; IMAP APPEND NO {append_reply!r}; "
              f"POP3 {pop3_stage} {pop3_reply!r}")
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_enospc_in_the_blob_writer_is_a_temporary_no_space_error(tmp_path: Path, monkeypatch) -> None:
    """Without root: ENOSPC injected into the message-file writer (os.write)
    of an in-process store gives the same neutral error and replies, leaves
    no temporary file, and the next write succeeds."""
    import asyncio

    from hivemail.imap.errors import tagged_for
    from hivemail.mailstore import ErrorKind, MailError
    from hivemail.mailstore.embedded import blobs as blobs_module
    from hivemail.mailstore.embedded.store import EmbeddedStore
    from hivemail.mime.analysis import analyse
    from hivemail.pop3.errors import err_for

    raw = b"Subject: x\r\n\r\n" + BODY
    real_write = os.write

    def full(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def main() -> None:
        cli(tmp_path / "d", "user", "add", USER, "--password", PASSWORD)
        store = EmbeddedStore(tmp_path / "d")
        await store.open()
        try:
            monkeypatch.setattr(blobs_module.os, "write", full)
            with pytest.raises(MailError) as info:
                await store.append(USER, "INBOX", raw, analyse(raw).to_bytes())
            error = info.value
            assert error.kind is ErrorKind.NO_SPACE
            assert os.listdir(tmp_path / "d" / "blobs" / "tmp") == []
            assert tagged_for("a", error, target=True).code is not None
            assert "OVERQUOTA" in str(tagged_for("a", error, target=True).code)
            assert err_for(error).code == "SYS/TEMP"
            monkeypatch.setattr(blobs_module.os, "write", real_write)
            result = await store.append(USER, "INBOX", raw, analyse(raw).to_bytes())
            assert result.uid == 1
        finally:
            await store.close()

    asyncio.run(main())
