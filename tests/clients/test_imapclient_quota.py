"""imapclient 4.x's QUOTA calls (get_quota_root, get_quota, set_quota) over
real sockets, and what it raises for NO [OVERQUOTA].

Limits are set with hivemail's admin CLI; the Dovecot of the comparison
runs has no quota plugin configured, so these run against hivemail only."""

from __future__ import annotations

import pytest

from tests.support.clients import MailServer, User, make_server, require_module, simple_message
from tests.support.server import cli

imapclient = require_module("imapclient")
from imapclient.imapclient import Quota  # noqa: E402  (after the module check)


@pytest.fixture(scope="module")
def hivemail(tmp_path_factory) -> MailServer:
    """A hivemail of this module's own, whatever $HIVEMAIL_CLIENT_SERVERS
    asks of the other client tests: the limits are set with its CLI."""
    server = make_server("hivemail", tmp_path_factory.mktemp("quota-server"))
    server.start()
    yield server
    crashes = server.tracebacks()
    server.stop()
    assert not crashes, "\n".join(crashes)


@pytest.fixture
def user(hivemail: MailServer) -> User:
    return hivemail.new_user()


def _client(server: MailServer, user: User):
    c = imapclient.IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=30)
    c.login(user.address, user.password)
    return c


def _quota(server: MailServer, user: User, *args: str) -> None:
    cli(server.data_dir, "user", "quota", user.address, *args)


def test_get_quota_root_and_get_quota(hivemail: MailServer, user: User) -> None:
    c = _client(hivemail, user)
    try:
        assert c.has_capability("QUOTA") and c.has_capability("QUOTA=RES-STORAGE")
        roots, quotas = c.get_quota_root("INBOX")
        assert (roots.mailbox, roots.quota_roots) == ("INBOX", ["User quota"])
        assert quotas == []  # no limits: an empty list, nothing to report
        _quota(hivemail, user, "--storage", "1M", "--messages", "10")
        for n in range(2):
            hivemail.deliver(user.address, simple_message(user.address, f"quota {n}", "x" * 700).raw)
        c.select_folder("INBOX", readonly=True)
        sizes = c.fetch(c.search("ALL"), ["RFC822.SIZE"])
        kib = -(-sum(item[b"RFC822.SIZE"] for item in sizes.values()) // 1024)
        expected = [Quota("User quota", "STORAGE", kib, 1024), Quota("User quota", "MESSAGE", 2, 10)]
        assert c.get_quota() == expected
        roots, quotas = c.get_quota_root("Archive")
        assert (roots.mailbox, roots.quota_roots, quotas) == ("Archive", ["User quota"], expected)
        # A name that does not exist yet has the same root (RFC 9208 4.1.2).
        assert c.get_quota_root("Later/Maybe")[0].quota_roots == ["User quota"]
    finally:
        c.logout()


def test_set_quota_is_refused_and_overquota_is_reported(hivemail: MailServer, user: User) -> None:
    _quota(hivemail, user, "--messages", "1")
    c = _client(hivemail, user)
    try:
        with pytest.raises(imapclient.exceptions.IMAPClientError, match="only by admin"):
            c.set_quota([Quota("User quota", "MESSAGE", 0, 1000)])
        c.append("INBOX", simple_message(user.address, "one", "fits").raw)
        with pytest.raises(imapclient.exceptions.IMAPClientError, match=r"\[OVERQUOTA\]"):
            c.append("INBOX", simple_message(user.address, "two", "does not fit").raw)
        c.select_folder("INBOX")
        with pytest.raises(imapclient.exceptions.IMAPClientError, match=r"\[OVERQUOTA\]"):
            c.copy([1], "Archive")
        c.move([1], "Archive")  # adds nothing: allowed at the limit (raises if refused)
        assert c.get_quota() == [Quota("User quota", "MESSAGE", 1, 1)]
        assert c.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 1
    finally:
        c.logout()
