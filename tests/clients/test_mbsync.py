"""mbsync (isync 1.4): two-way sync between the server's INBOX and a local
Maildir.

Config notes (see ``_mbsyncrc``):

* ``SSLType None`` + ``AuthMechs LOGIN``: loopback plaintext, which both
  servers allow.  isync 1.4 would otherwise insist on STARTTLS.
* ``CertificateFile`` is not needed with ``SSLType None``.
* ``SyncState *`` keeps isync's state (``.mbsyncstate``, ``.uidvalidity``)
  inside the Maildir, so nothing is written to $HOME except the config.
* ``Expunge Both``: a message flagged \\Deleted (Maildir "T") is expunged
  on both sides; ``CopyArrivalDate yes`` carries the Maildir mtime to the
  APPEND date (and INTERNALDATE to the file's mtime).
* isync's Maildir driver stores messages with LF line ends (it converts
  from IMAP's CRLF), so local files are compared after LF -> CRLF.
* isync 1.4 inserts an ``X-TUID: <12 chars>`` line as the last header
  field of every message it propagates, in BOTH directions: into the
  Maildir file on pull and into the APPENDed bytes on push (its
  transaction id, to find the message again after an interrupted sync;
  it does so even though both servers return APPENDUID).  That one line is
  the only thing ``_normal`` strips before comparing; everything else must
  be identical.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tests.support.clients import (
    MailServer,
    User,
    client_env,
    imap_flag_letters,
    imap_login,
    imap_snapshot,
    maildir_snapshot,
    make_messages,
    require_binary,
    run_client,
    simple_message,
    to_crlf,
)


def _mbsyncrc(server: MailServer, user: User, maildir_root: Path) -> str:
    return f"""\
IMAPAccount server
Host {server.host}
Port {server.imap_port}
User {user.address}
Pass {user.password}
SSLType None
AuthMechs LOGIN
Timeout 30

IMAPStore server-remote
Account server

MaildirStore local
Path {maildir_root}/
Inbox {maildir_root}/INBOX
SubFolders Verbatim

Channel inbox
Far :server-remote:INBOX
Near :local:INBOX
Sync All
Create Both
Expunge Both
SyncState *
CopyArrivalDate yes
"""


def _sync(mbsync: str, rc: Path, home: Path, *extra: str) -> str:
    proc = run_client([mbsync, "-c", str(rc), *extra, "inbox"], env=client_env(home), timeout=120)
    return proc.stdout + proc.stderr


def _normal(raw: bytes) -> bytes:
    """A message with CRLF line ends and isync's own ``X-TUID:`` line (at
    most one, in the header) removed: a local Maildir file and the
    server's copy of a synced message must be equal in this form."""
    raw = to_crlf(raw)
    head, sep, body = raw.partition(b"\r\n\r\n")
    head_plus = head + b"\r\n"
    tuid = re.compile(rb"^X-TUID: [^\r\n]*\r\n", re.MULTILINE)
    assert len(tuid.findall(head_plus)) <= 1, head
    return tuid.sub(b"", head_plus, count=1)[:-2] + sep + body


def _assert_agree(server: MailServer, user: User, maildir: Path) -> None:
    """Both sides have the same Message-IDs, the same system flags (minus
    \\Recent, which is not synced) and the same bytes."""
    remote = imap_snapshot(server, user)
    local = maildir_snapshot(maildir)
    assert set(remote) == set(local), f"server {sorted(remote)} != local {sorted(local)}"
    for msgid, srv in remote.items():
        flags, raw, path = local[msgid]
        assert imap_flag_letters(srv.flags) == imap_flag_letters(flags), (msgid, srv.flags, path.name)
        assert _normal(raw) == _normal(srv.raw), f"{path} differs from the server's copy of {msgid}"


def test_two_way_sync(mail_server: MailServer, user: User, tmp_path: Path) -> None:
    mbsync = require_binary("mbsync")
    home = tmp_path / "home"
    home.mkdir()
    maildir_root = tmp_path / "Mail"
    maildir_root.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(_mbsyncrc(mail_server, user, maildir_root))
    inbox = maildir_root / "INBOX"

    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)

    # 1. pull: every message arrives, byte-equal to the server's copy
    _sync(mbsync, rc, home)
    remote = imap_snapshot(mail_server, user)
    local = maildir_snapshot(inbox)
    assert set(local) == {m.message_id for m in msgs}
    for m in msgs:
        flags, raw, _path = local[m.message_id]
        assert b"X-TUID: " not in remote[m.message_id].raw  # pull leaves the server alone
        assert _normal(raw) == remote[m.message_id].raw
        assert _normal(raw).endswith(m.raw)
        assert flags == frozenset()
    _assert_agree(mail_server, user, inbox)

    # 2. change flags and add a message locally, then push
    p1 = local[msgs[0].message_id][2]
    p2 = local[msgs[1].message_id][2]
    _set_maildir_flags(p1, "FS")  # \Flagged \Seen
    _set_maildir_flags(p2, "RS")  # \Answered \Seen
    new = simple_message(user.address, "Written locally", "local body")
    local_file = inbox / "cur" / f"{int(time.time())}.local{os.getpid()}.test:2,S"
    local_file.write_bytes(new.raw.replace(b"\r\n", b"\n"))  # Maildir files use LF
    _sync(mbsync, rc, home, "--push")
    remote = imap_snapshot(mail_server, user)
    assert remote[msgs[0].message_id].flags >= {"\\Flagged", "\\Seen"}
    assert remote[msgs[1].message_id].flags >= {"\\Answered", "\\Seen"}
    assert "\\Seen" not in remote[msgs[2].message_id].flags
    assert new.message_id in remote, "the locally written message was not uploaded"
    assert _normal(remote[new.message_id].raw) == new.raw  # byte-exact APPEND (but for X-TUID)
    assert remote[new.message_id].flags >= {"\\Seen"}

    # 3. delete on the server (\Deleted + EXPUNGE), pull again
    victim = msgs[2]
    m = imap_login(mail_server, user)
    try:
        m.select("INBOX")
        typ, _ = m.uid("STORE", str(remote[victim.message_id].uid), "+FLAGS", "(\\Deleted)")
        assert typ == "OK"
        typ, _ = m.expunge()
        assert typ == "OK"
    finally:
        m.logout()
    _sync(mbsync, rc, home, "--pull")
    local = maildir_snapshot(inbox)
    assert victim.message_id not in local
    assert len(local) == len(msgs)  # 6 delivered + 1 pushed - 1 expunged
    _assert_agree(mail_server, user, inbox)

    # 4. a full sync now is a no-op: nothing changes on either side
    before_remote, before_local = imap_snapshot(mail_server, user), maildir_snapshot(inbox)
    _sync(mbsync, rc, home)
    assert imap_snapshot(mail_server, user) == before_remote
    assert {k: v[:2] for k, v in maildir_snapshot(inbox).items()} == {k: v[:2] for k, v in before_local.items()}


def _set_maildir_flags(path: Path, letters: str) -> Path:
    """Rename a Maildir message to carry *letters* (sorted, per the spec)."""
    base = path.name.split(":2,", 1)[0]
    target = path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(letters))}"
    path.rename(target)
    return target
