"""fetchmail 6.4: POP3 with UIDL, ``keep`` twice, then ``fetchall`` without
keep, every message handed to an MDA that writes numbered files.

Config notes (see ``_rcfile``):

* fetchmail insists on a private rcfile (mode 0644 gives "File ... must
  have no more than -rwx------ (0700) permissions." and exit); it is
  written 0600.  As root it also warns "Running as root is discouraged".
* It is run as ``fetchmail -f RC --nosyslog --idfile F --pidfile P -N``
  with HOME a temp dir: without ``--pidfile`` a root run writes
  /var/run/fetchmail.pid, without ``-N`` it could daemonize from a
  ``set daemon`` line, and ``--idfile`` holds the UIDL state (the reason
  the second ``keep`` run fetches nothing).  ``uidl`` is set on the poll
  line as documented for this; fetchmail 6.4.37 in fact tracks POP3 UIDs
  in the idfile whenever ``keep`` is on (the test passes without it too).
* ``sslproto ''`` turns off opportunistic STLS: fetchmail 6.4 upgrades on
  its own when STLS is offered and then aborts on the self-signed
  certificate ("Server certificate verification error: self-signed
  certificate ... upgrade to TLS failed").  (STLS is covered by
  test_poplib.)
* ``no rewrite`` stops it rewriting addresses in To/From/Cc, ``no
  mimedecode`` (default) keeps the body as sent, ``no dropdelivered`` /
  ``no dropstatus`` (defaults) keep every header the server sent.
* Exit codes: 0 = messages retrieved, 1 = no new mail (man fetchmail,
  "EXIT CODES").

What is stripped before the byte-exact comparison: fetchmail writes to the
MDA with LF line ends (restored to CRLF) and adds exactly ONE header field
of its own, ``Received: from 127.0.0.1 [127.0.0.1] by <host> with POP3
(fetchmail-6.4.x) for <...> (single-drop); <date>`` (folded over three
lines).  It is not at the very top: fetchmail keeps Return-Path and
Delivered-To first and inserts its Received before the first existing
Received field.  That one field (found by "with POP3 (fetchmail-") is
removed, wherever it is.  What is left must be the server's RETR
output: its own delivery headers (Return-Path/Received/Delivered-To)
followed by exactly the bytes delivered over LMTP.
"""

from __future__ import annotations

import os
import poplib
from pathlib import Path

from tests.support.clients import (
    MailServer,
    User,
    client_env,
    make_messages,
    require_binary,
    run_client,
    remove_header_field,
    split_delivery_headers,
    to_crlf,
)

MDA = """\
#!/bin/sh
# Write one message from stdin to the next numbered file in $1.
set -e
dir="$1"
n=$(ls "$dir" | wc -l)
cat > "$dir/$(printf %04d $((n + 1))).eml"
"""


def _rcfile(server: MailServer, user: User, mda: Path, out: Path, *, keep: bool, fetchall: bool) -> str:
    me = os.environ.get("USER") or "root"
    options = ["keep" if keep else "no keep", "fetchall" if fetchall else "no fetchall", "no rewrite"]
    return f"""\
set no bouncemail
poll {server.host} with protocol POP3 port {server.pop3_port} uidl auth password timeout 30
    user "{user.address}" there with password "{user.password}" is "{me}" here
    {" ".join(options)}
    sslproto ''
    mda "{mda} {out}"
"""


def _run(fetchmail: str, tmp: Path, rc_text: str) -> tuple[int, str]:
    rc = tmp / "fetchmailrc"
    rc.write_text(rc_text)
    os.chmod(rc, 0o600)
    proc = run_client(
        [fetchmail, "-f", str(rc), "--nosyslog", "-N", "-v",
         "--idfile", str(tmp / "fetchids"), "--pidfile", str(tmp / "fetchmail.pid")],
        env=client_env(tmp / "home"), timeout=120, check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), f"fetchmail exited {proc.returncode}:\n{output}"
    return proc.returncode, output


def _delivered(out: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(out.iterdir())]


def _check_bytes(got: list[bytes], msgs) -> None:
    assert len(got) == len(msgs)
    for data, sent in zip(got, msgs):
        assert b"\r\n" not in data  # LF to the MDA
        _removed, rest = remove_header_field(to_crlf(data), "Received", b"with POP3 (fetchmail-")
        split_delivery_headers(rest, sent.raw)


def test_keep_uidl_then_fetch_and_delete(mail_server: MailServer, user: User, tmp_path: Path) -> None:
    fetchmail = require_binary("fetchmail")
    (tmp_path / "home").mkdir()
    mda = tmp_path / "mda.sh"
    mda.write_text(MDA)
    os.chmod(mda, 0o755)
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)

    # 1. keep: everything fetched, left on the server
    out1 = tmp_path / "out1"
    out1.mkdir()
    code, log = _run(fetchmail, tmp_path, _rcfile(mail_server, user, mda, out1, keep=True, fetchall=False))
    assert code == 0, log
    _check_bytes(_delivered(out1), msgs)
    assert (tmp_path / "fetchids").read_text().count(user.address) >= 1

    # 2. keep again: UIDL says nothing is new, nothing is delivered
    out2 = tmp_path / "out2"
    out2.mkdir()
    code, log = _run(fetchmail, tmp_path, _rcfile(mail_server, user, mda, out2, keep=True, fetchall=False))
    assert code == 1, log  # "no mail"
    assert _delivered(out2) == []
    assert _pop3_count(mail_server, user) == len(msgs)

    # 3. no keep + fetchall: everything fetched again, then deleted
    out3 = tmp_path / "out3"
    out3.mkdir()
    code, log = _run(fetchmail, tmp_path, _rcfile(mail_server, user, mda, out3, keep=False, fetchall=True))
    assert code == 0, log
    _check_bytes(_delivered(out3), msgs)
    assert _delivered(out3) != [] and len(_delivered(out3)) == len(_delivered(out1))
    assert _pop3_count(mail_server, user) == 0, "the server mailbox is not empty after a non-keep run"


def _pop3_count(server: MailServer, user: User) -> int:
    p = poplib.POP3(server.host, server.pop3_port, timeout=30)
    try:
        p.user(user.address)
        p.pass_(user.password)
        return p.stat()[0]
    finally:
        p.quit()
