"""neomutt driven in tmux: the INBOX index shows an RFC 2047 subject
decoded, and opening the message shows its (quoted-printable) body.

Config notes (see ``_muttrc``):

* ``neomutt -n -F muttrc``: no system config, only ours.  ``header_cache``
  and ``message_cachedir`` are empty (no cache between runs), and
  ``ssl_starttls = no`` / ``ssl_force_tls = no`` keep the loopback
  connection plaintext (otherwise neomutt upgrades and asks about the
  self-signed certificate).
* The folder is ``imap://ADDR:PW@127.0.0.1:PORT/INBOX`` with the "@" of
  the address percent-encoded (``%40``).  NeoMutt 20220429 ignores the
  password in a ``-f`` URL (it prompts "Password for ...:" without trying
  to log in), so ``imap_user``/``imap_pass`` are set in the muttrc too.
* tmux runs on its own server (``-L <unique name>``, ``-f /dev/null``),
  is sized with ``new-session -d -x 200 -y 50`` and is stopped with
  ``kill-server`` on that socket only.  LANG/LC_ALL=C.UTF-8 for both tmux
  and neomutt, else the decoded umlauts are shown as "?" (and
  ``capture-pane`` prints "_" for them).
* Everything waits by polling ``capture-pane`` with a bounded timeout.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.clients import (
    ENCODED_SUBJECT,
    MailServer,
    User,
    client_env,
    make_messages,
    require_binary,
)

TIMEOUT = 20.0


def _muttrc(home: Path, user: User) -> str:
    return f"""\
set imap_user = "{user.address}"
set imap_pass = "{user.password}"
set header_cache = ""
set message_cachedir = ""
set ssl_starttls = no
set ssl_force_tls = no
set folder = "{home}/Mail"
set record = ""
set postponed = ""
set spoolfile = ""
set sort = date
set charset = "utf-8"
set index_format = "%4C %Z %-22.22F %s"
set mail_check_stats = no
set imap_passive = yes
set timeout = 1
set wait_key = no
set beep = no
set pager_stop = yes
set sidebar_visible = no
set help = yes
"""


class Tmux:
    """One private tmux server (``-L name``), one session."""

    def __init__(self, tmux: str, env: dict[str, str]) -> None:
        self.tmux = tmux
        self.name = f"hivemail-clients-{secrets.token_hex(4)}"
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.tmux, "-L", self.name, "-f", "/dev/null", *args], env=self.env,
                              capture_output=True, text=True, timeout=15, check=check)

    def start(self, command: str) -> None:
        self.run("-u", "new-session", "-d", "-s", "main", "-x", "200", "-y", "50", command)

    def screen(self) -> str:
        proc = self.run("capture-pane", "-p", "-t", "main", check=False)
        return proc.stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "main", *keys)

    def kill(self) -> None:
        self.run("kill-server", check=False)

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        import time

        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        pytest.fail(f"{text!r} did not appear within {timeout} s; screen:\n{screen}")


def test_index_decodes_subject_and_pager_shows_body(mail_server: MailServer, user: User, tmp_path: Path) -> None:
    neomutt = require_binary("neomutt")
    tmux_bin = require_binary("tmux")
    home = tmp_path / "home"
    (home / "Mail").mkdir(parents=True)
    muttrc = tmp_path / "muttrc"
    muttrc.write_text(_muttrc(home, user))
    msgs = make_messages(user.address)
    plain, encoded = msgs[0], msgs[3]
    mail_server.deliver_all(user.address, [plain, encoded])

    url = f"imap://{quote(user.address, safe='')}:{user.password}@{mail_server.host}:{mail_server.imap_port}/INBOX"
    env = client_env(home, TERM="xterm-256color")
    tmux = Tmux(tmux_bin, env)
    # the shell keeps the pane alive after neomutt exits, so an early exit
    # (bad URL, login refused) is visible in the captured screen
    tmux.start(f"{neomutt} -n -F {muttrc} -f '{url}'; echo NEOMUTT-EXITED $?; sleep 30")
    try:
        screen = tmux.wait_for(ENCODED_SUBJECT)
        assert "NEOMUTT-EXITED" not in screen
        assert "Plain message 1" in screen
        assert "=?UTF-8?" not in screen  # decoded, not shown raw
        # sorted by date: plain (09:01) is 1, encoded (09:04) is 2; jump, open
        tmux.keys("2")
        tmux.wait_for("Jump to message")
        tmux.keys("Enter")
        tmux.keys("Enter")
        pager = tmux.wait_for(encoded.body_marker)
        assert "Herzliche Grüße vom Rhein." in pager  # quoted-printable UTF-8, decoded
        assert f"Subject: {ENCODED_SUBJECT}" in pager
        tmux.keys("q")  # back to the index
        tmux.wait_for("Plain message 1")
        tmux.keys("q")
        tmux.wait_for("NEOMUTT-EXITED 0")
    finally:
        tmux.kill()
