"""getmail6: POP3 into a Maildir with ``read_all = false``, run twice.

Config notes (see ``_getmailrc``):

* ``--getmaildir`` points at a temp dir: getmail keeps its per-account
  "oldmail-<server>-<port>-<user>" file (the UIDLs already retrieved) and
  lock there.  ``read_all = false`` + that file make the second run fetch
  nothing.  ``--rcfile`` is resolved relative to the getmaildir.
* ``delete = false``: the server keeps every message.
* The Maildir destination path must end with "/" and cur/new/tmp must
  exist (getmail will not create them).
* getmail refuses to deliver into a Maildir as uid 0 or gid 0 ("refuse to
  deliver mail as root"; there is no override for Maildir, only
  ``allow_root_commands`` for external MDAs).  When the tests run as root
  the destination gets ``user = nobody`` (getmail's delivery child then
  switches to nobody/nogroup), and the Maildir lives in a 0755 temp dir
  outside pytest's 0700 tmp_path, owned by nobody; it is removed after the
  test.
* With the defaults ``delivered_to = true``, ``received = true``, getmail's
  Maildir destination prepends, in this order, exactly three header
  fields of its own before the message the server sent:
  ``Return-Path: <...>`` (a copy of the message's own, server-added
  Return-Path), ``Delivered-To: unknown`` (a POP3 retriever does not know
  the envelope recipient) and ``Received: from 127.0.0.1 (127.0.0.1:PORT)
  by localhost with POP3 getmail6 msgid:...; <date>`` (folded).  ``_strip_getmail`` removes exactly those three top
  fields (each with its continuation lines), asserting their names; what
  remains must be the server's RETR output byte for byte.  Its Maildir
  files have LF line ends (restored to CRLF for the comparison).
"""

from __future__ import annotations

import contextlib
import os
import poplib
import pwd
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.clients import (
    MailServer,
    User,
    client_env,
    make_messages,
    message_id_of,
    require_binary,
    run_client,
    split_delivery_headers,
    to_crlf,
)

GETMAIL_FIELDS = ("return-path", "delivered-to", "received")


def _getmailrc(server: MailServer, user: User, maildir: Path, deliver_as: str | None) -> str:
    as_user = f"user = {deliver_as}\n" if deliver_as else ""
    return f"""\
[retriever]
type = SimplePOP3Retriever
server = {server.host}
port = {server.pop3_port}
username = {user.address}
password = {user.password}
timeout = 10

[destination]
type = Maildir
path = {maildir}/
{as_user}
[options]
read_all = false
delete = false
verbose = 1
"""


def _strip_getmail(data: bytes) -> bytes:
    """Remove getmail's three top header fields (see the module doc)."""
    pos = 0
    for name in GETMAIL_FIELDS:
        m = re.match(rb"([!-9;-~]+):", data[pos:])
        assert m and m.group(1).decode().lower() == name, (name, data[pos:pos + 200])
        end = data.index(b"\r\n", pos) + 2
        while data[end:end + 1] in (b" ", b"\t"):
            end = data.index(b"\r\n", end) + 2
        pos = end
    return data[pos:]


def _maildir_files(maildir: Path) -> list[Path]:
    return sorted(p for sub in ("new", "cur") for p in (maildir / sub).iterdir())


class GetmailChildRace(Exception):
    """getmail lost the SIGCHLD of its delivery child (see the module doc)."""


RACE = "timed out"  # "operation error (waiting child pid N timed out)"
ATTEMPTS = 3


@contextlib.contextmanager
def _maildir(tmp: Path):
    """(Maildir path, user to deliver as): see the module doc on root."""
    if os.geteuid() != 0:
        path = tmp / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True)
        yield path, None
        return
    nobody = pwd.getpwnam("nobody")
    parent = Path(tempfile.mkdtemp(prefix="hivemail-getmail-"))
    try:
        os.chmod(parent, 0o755)
        path = parent / "Maildir"
        for sub in ("", "cur", "new", "tmp"):
            (path / sub).mkdir(exist_ok=True)
            os.chown(path / sub, nobody.pw_uid, nobody.pw_gid)
        yield path, "nobody"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _getmail(argv: list[str], home: Path) -> str:
    proc = run_client(argv, env=client_env(home), timeout=120, check=False)
    log = proc.stdout + proc.stderr
    if "waiting child pid" in log and RACE in log:
        raise GetmailChildRace(log)
    assert proc.returncode == 0, f"getmail exited {proc.returncode}:\n{log}"
    return log


def test_read_all_false_twice(mail_server: MailServer, tmp_path: Path) -> None:
    getmail = require_binary("getmail")
    races = []
    for attempt in range(ATTEMPTS):
        work = tmp_path / f"attempt{attempt}"
        work.mkdir()
        try:
            with _maildir(work) as (maildir, deliver_as):
                _scenario(getmail, mail_server, mail_server.new_user(), work, maildir, deliver_as)
            return
        except GetmailChildRace as exc:
            races.append(str(exc))
    pytest.fail(f"getmail lost its delivery child {ATTEMPTS} times in a row:\n" + "\n---\n".join(races))


def _scenario(getmail: str, mail_server: MailServer, user: User, tmp_path: Path, maildir: Path,
              deliver_as: str | None) -> None:
    home = tmp_path / "home"
    home.mkdir()
    getmaildir = tmp_path / "getmail"
    getmaildir.mkdir()
    (getmaildir / "getmailrc").write_text(_getmailrc(mail_server, user, maildir, deliver_as))
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    argv = [getmail, "--getmaildir", str(getmaildir), "--rcfile", "getmailrc"]

    log = _getmail(argv, home)
    assert f"{len(msgs)} messages (" in log and "retrieved" in log, log
    files = _maildir_files(maildir)
    assert len(files) == len(msgs), log
    by_id = {message_id_of(p.read_bytes()): p.read_bytes() for p in files}
    assert set(by_id) == {m.message_id for m in msgs}
    for sent in msgs:
        data = to_crlf(by_id[sent.message_id])
        split_delivery_headers(_strip_getmail(data), sent.raw)
        assert b"with POP3 getmail6" in data.split(b"\r\n\r\n", 1)[0]
    assert any(p.name.startswith("oldmail-") for p in getmaildir.iterdir())

    # second run: nothing new (read_all = false + the oldmail UIDL record)
    log = _getmail(argv, home)
    assert re.search(r"\b0 messages", log), log
    assert len(_maildir_files(maildir)) == len(msgs)

    # delete = false: everything is still on the server
    p = poplib.POP3(mail_server.host, mail_server.pop3_port, timeout=30)
    try:
        p.user(user.address)
        p.pass_(user.password)
        assert p.stat()[0] == len(msgs)
    finally:
        p.quit()
