"""The "other client" of the store, in its own process: what an IMAP session
would do to an account (append, flag, expunge), done through the store API
on the same data directory, so tests can change a mailbox under a running
server.  Until the IMAP server exists this stands in for it.

    python -m tests.support.storetool DATA append ACCOUNT MAILBOX NAME...
    python -m tests.support.storetool DATA flag ACCOUNT MAILBOX +\\Seen UID...
    python -m tests.support.storetool DATA expunge ACCOUNT MAILBOX UID...
    python -m tests.support.storetool DATA setting ACCOUNT KEY VALUE
    python -m tests.support.storetool DATA dump ACCOUNT MAILBOX

``dump`` prints one ``UID FLAGS`` line per message (flags sorted, comma
separated).  ``expunge`` flags \\Deleted and expunges, then closes the
store, which collects the unreferenced blobs at once: the hardest case for
a POP3 session that still has the message in its maildrop.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.support.backend import open_store
from hivemail.mailstore.types import FlagMode
from hivemail.mime.analysis import analyse

#: Messages with exact, known bytes (stored as is: no trace fields).
MESSAGES: dict[str, bytes] = {
    "small": b"From: a@example.org\r\nSubject: small\r\n\r\nHello.\r\n",
    "dots": (b"From: a@example.org\r\nSubject: dots\r\n\r\nline 1\r\n.\r\n..two\r\n"
             b".leading\r\nlast\r\n"),
    "lines": (b"From: a@example.org\r\nSubject: lines\r\n\r\n"
              + b"".join(b"body line %d\r\n" % i for i in range(1, 6))),
    "noeol": b"From: a@example.org\r\nSubject: noeol\r\n\r\nno final line end",
    "headers": b"From: a@example.org\r\nSubject: headers only\r\n",
}


async def _main(data: str, command: str, args: list[str]) -> int:
    store = open_store(data, fsync=False)
    await store.open()
    try:
        match command:
            case "append":
                account, mailbox, *names = args
                for name in names:
                    raw = MESSAGES[name]
                    r = await store.append(account, mailbox, raw, analyse(raw).to_bytes())
                    print(r.uid)
            case "flag":
                account, mailbox, flag, *uids = args
                box = await store.get_mailbox(account, mailbox)
                mode = FlagMode.ADD if flag[0] == "+" else FlagMode.REMOVE
                await store.store_flags(box.id, [int(u) for u in uids], mode, [flag[1:]])
            case "expunge":
                account, mailbox, *uids = args
                box = await store.get_mailbox(account, mailbox)
                await store.store_flags(box.id, [int(u) for u in uids], FlagMode.ADD, ["\\Deleted"])
                print(" ".join(map(str, await store.expunge(box.id, [int(u) for u in uids]))))
            case "setting":
                account, key, value = args
                await store.set_account_setting(account, key, value)
            case "dump":
                account, mailbox = args
                snap = await store.snapshot(account, mailbox)
                for m in snap.messages:
                    print(m.uid, ",".join(sorted(m.flags)))
            case _:
                print(f"unknown command {command}", file=sys.stderr)
                return 2
    finally:
        await store.close()
    return 0


def run(data: Path | str, *args: str) -> str:
    """Run one storetool command in a child process; returns its output."""
    proc = subprocess.run([sys.executable, "-m", "tests.support.storetool", str(data), *args],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    if proc.returncode != 0:
        raise AssertionError(f"storetool {' '.join(args)}: {proc.stderr}")
    return proc.stdout


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1], sys.argv[2], sys.argv[3:])))
