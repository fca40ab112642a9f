"""Fixtures for the real-client suites: one mail server per backend.

``mail_server`` is parametrized over $HIVEMAIL_CLIENT_SERVERS (default
"hivemail"; "dovecot" proves the tests right, "dovecot,hivemail" compares).
One server per backend per session: starting Dovecot or hivemail per test
would cost more than the tests themselves, and every test isolates itself
by creating its own user(s) (``mail_server.new_user()``) and temp dirs.
A server that fails to start fails every test that uses it (pytest caches
a session fixture's error), with the server's log in the message.  A
server that runs without some listener (hivemail while IMAP or POP3 is
being written) fails only the tests that need that listener.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.clients import MailServer, User, make_server, selected_servers


@pytest.fixture(scope="session", params=selected_servers())
def mail_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    name = request.param
    server = make_server(name, tmp_path_factory.mktemp(f"{name}-server"))
    problem = None
    try:
        server.start()
    except Exception as exc:  # reported below, outside the except block
        problem = str(exc)
        log = server.log_text()
        if log and log.strip().splitlines()[-1] not in problem:
            problem += "\n--- log ---\n" + log[-4000:]
        server.stop()
    if problem is not None:
        pytest.fail(f"{name} server did not start: {problem}", pytrace=False)
    yield server
    crashes = server.tracebacks()
    log = server.log_text()
    server.stop()
    if crashes:
        pytest.fail(f"{name} logged {len(crashes)} crash(es) during the client tests:\n"
                    + "\n".join(crashes) + "\n--- log tail ---\n" + log[-4000:], pytrace=False)


@pytest.fixture
def user(mail_server: MailServer) -> User:
    """A fresh user with an empty INBOX."""
    return mail_server.new_user()
