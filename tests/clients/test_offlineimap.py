"""offlineimap3: one full sync of INBOX into a local Maildir.

Config notes (see ``_offlineimaprc``):

* ``ssl = no`` and ``starttls = no``: loopback plaintext.  offlineimap3
  defaults to ``ssl = yes`` and, with ssl off, tries STARTTLS when the
  server offers it; both are switched off explicitly.
* ``auth_mechanisms = LOGIN`` keeps it off GSSAPI/CRAM-MD5 probing.
* ``metadata`` (its UID state) lives in the temp dir; ``-c`` names the
  config so ~/.offlineimaprc is never read (HOME is a temp dir too).
* ``folderfilter`` limits the sync to INBOX; ``-o`` runs once, ``-u
  basic`` gives a line-based log.
* offlineimap stores messages with LF line ends, so local files are
  compared with the server's bytes after LF -> CRLF.  It adds no header
  on download (``X-OfflineIMAP`` is only added to messages it uploads).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.clients import (
    MailServer,
    User,
    client_env,
    imap_login,
    imap_snapshot,
    maildir_snapshot,
    make_messages,
    require_binary,
    run_client,
    split_delivery_headers,
    to_crlf,
)


def _offlineimaprc(server: MailServer, user: User, root: Path) -> str:
    return f"""\
[general]
accounts = test
metadata = {root}/metadata
ui = basic
maxsyncaccounts = 1

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {root}/Mail

[Repository remote]
type = IMAP
remotehost = {server.host}
remoteport = {server.imap_port}
remoteuser = {user.address}
remotepass = {user.password}
ssl = no
starttls = no
auth_mechanisms = LOGIN
maxconnections = 1
holdconnectionopen = no
folderfilter = lambda name: name == "INBOX"
"""


def test_full_sync(mail_server: MailServer, user: User, tmp_path: Path) -> None:
    offlineimap = require_binary("offlineimap")
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "Mail").mkdir()
    rc = tmp_path / "offlineimaprc"
    rc.write_text(_offlineimaprc(mail_server, user, tmp_path))
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    # flags come along too: \Seen + \Flagged on the first message
    m = imap_login(mail_server, user)
    m.select("INBOX")
    assert m.store("1", "+FLAGS", "(\\Seen \\Flagged)")[0] == "OK"
    m.logout()
    before = imap_snapshot(mail_server, user)

    proc = run_client([offlineimap, "-c", str(rc), "-o", "-u", "basic"], env=client_env(home), timeout=180)
    output = proc.stdout + proc.stderr
    assert "ERROR" not in output, output

    remote = imap_snapshot(mail_server, user)
    # a download-only sync leaves the server as it was (no flag set, nothing added)
    assert remote == before
    local = maildir_snapshot(tmp_path / "Mail" / "INBOX")
    assert set(local) == {m.message_id for m in msgs}, output
    for sent in msgs:
        flags, raw, path = local[sent.message_id]
        assert to_crlf(raw) == remote[sent.message_id].raw, f"{path} differs from the server's copy"
        split_delivery_headers(to_crlf(raw), sent.raw)
    assert local[msgs[0].message_id][0] == frozenset({"\\Seen", "\\Flagged"})
    assert all(local[s.message_id][0] == frozenset() for s in msgs[1:])
