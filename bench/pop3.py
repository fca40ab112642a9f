#!/usr/bin/env python3
"""POP3 bulk download, Dovecot and hivemail side by side.

Each server gets ten accounts holding the same N messages (default 1,000
from ``bench/corpus.py``: 1 KiB-1 MiB, multipart, attachments, threads;
filled over LMTP, one transaction per message with all ten recipients).  A *session* is what a mail client does
to empty a mailbox it keeps on the server: connect, USER/PASS, STAT,
UIDL, RETR of every message one after the other, QUIT (no DELE, so the
mailbox stays for the next session).  For 1 and 10 concurrent clients
(each on its own account: POP3 locks a maildrop) the case runs sessions
back to back for a time budget and reports sessions/s and MiB/s of
message octets received, with the server's CPU and the hivemail/Dovecot
ratio.  Cases alternate between the servers, with an ``os.sync()``
before each.  The client is a raw socket reading until ``CRLF.CRLF``:
cheap, so the server is what is measured; it still competes for the same
CPUs as the server, identically for both.

    bench/pop3.py [--quick] [--only dovecot|hivemail] [--messages N] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, markdown_table  # noqa: E402
from bench.corpus import Corpus  # noqa: E402
from bench.servers import DovecotServer, HivemailServer, ServerError  # noqa: E402

MIB = 1024 * 1024
PASSWORD = "bench-password"
ACCOUNTS = [f"pop{i}@example.test" for i in range(10)]
TIMEOUT = 60.0
HOST = "127.0.0.1"  # --host


def messages(count: int) -> list[bytes]:
    """The mailbox: *count* corpus messages (seed 1100)."""
    corpus = Corpus(count, seed=1100, to="pop@example.test")
    return [corpus.message(i).raw for i in range(count)]


def fill(server, count: int) -> None:
    """One LMTP transaction per message to all accounts.  Raw, because
    smtplib.LMTP reads one reply after DATA where LMTP sends one per recipient."""
    sock = socket.create_connection(("127.0.0.1", server.lmtp_port), timeout=TIMEOUT)
    f = sock.makefile("rb")

    def replies(n: int) -> None:
        for _ in range(n):
            while True:
                line = f.readline()
                if not line[:1].isdigit() or line[:1] not in b"23":
                    raise ConnectionError(f"LMTP: {line!r}")
                if line[3:4] != b"-":
                    break

    try:
        replies(1)
        sock.sendall(b"LHLO bench.example.test\r\n")
        replies(1)
        for msg in messages(count):
            raw = msg.replace(b"\r\n.", b"\r\n..")
            sock.sendall(b"MAIL FROM:<sender@example.test>\r\n"
                         + b"".join(b"RCPT TO:<%s>\r\n" % a.encode() for a in ACCOUNTS) + b"DATA\r\n")
            replies(2 + len(ACCOUNTS))
            sock.sendall(raw + b".\r\n")
            replies(len(ACCOUNTS))
        sock.sendall(b"QUIT\r\n")
    finally:
        f.close()
        sock.close()


class Pop3Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.buf = b""
        self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def cmd(self, text: str) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n")
        line = self.line()
        if not line.startswith(b"+OK"):
            raise ConnectionError(f"{text.split()[0]}: {line!r}")
        return line

    def multi(self, text: str) -> int:
        """A multi-line command; returns the octets of the body received."""
        self.cmd(text)
        data, self.buf = self.buf, b""
        if data == b".\r\n":
            return 0
        parts, tail = [data], data[-5:]
        while not tail.endswith(b"\r\n.\r\n"):
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed")
            parts.append(chunk)
            tail = (tail + chunk)[-5:]
        return sum(len(p) for p in parts) - 3


def session(port: int, user: str, password: str = PASSWORD) -> int:
    c = Pop3Client(port)
    try:
        c.cmd(f"USER {user}")
        c.cmd(f"PASS {password}")
        count = int(c.cmd("STAT").split()[1])
        c.multi("UIDL")
        octets = sum(c.multi(f"RETR {n}") for n in range(1, count + 1))
        c.cmd("QUIT")
        return octets
    finally:
        c.sock.close()


@dataclasses.dataclass
class Result:
    case: str
    server: str
    sessions: int
    seconds: float
    octets: int
    cpu_seconds: float
    rss_bytes: int
    error: str = ""

    @property
    def sessions_per_s(self) -> float:
        return self.sessions / self.seconds if self.seconds else 0.0

    @property
    def mib_per_s(self) -> float:
        return self.octets / MIB / self.seconds if self.seconds else 0.0


def run_case(server, name: str, clients: int, budget: float, accounts: list[str] = ACCOUNTS,
             password: str = PASSWORD) -> Result:
    counts = [0] * clients
    octets = [0] * clients
    errors: list[str] = []
    deadline = time.monotonic() + budget

    def worker(i: int) -> None:
        try:
            while True:  # at least one session; then until the budget is spent
                octets[i] += session(server.pop3_port, accounts[i % len(accounts)], password)
                counts[i] += 1
                if time.monotonic() >= deadline:
                    return
        except Exception as exc:  # reported with the result
            errors.append(f"{type(exc).__name__}: {exc}")

    cpu0 = server.cpu_seconds()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(budget + 10 * TIMEOUT)
    seconds = time.perf_counter() - t0
    return Result(f"{clients} client{'s' if clients > 1 else ''}", name, sum(counts), seconds,
                  sum(octets), server.cpu_seconds() - cpu0, server.rss_bytes(), "; ".join(errors[:2]))


def report(results: list[Result], info: dict, versions: dict, unavailable: dict, n: int) -> str:
    out = ["## POP3 download", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- {k}: {v}" for k, v in versions.items()]
    out += [f"- {k}: NOT MEASURED ({v.splitlines()[0][:200]})" for k, v in unavailable.items()]
    out += [f"- mailbox: {n} messages from bench/corpus.py per account; a session is "
            "USER/PASS, STAT, UIDL, RETR of all, QUIT", ""]
    out.append(markdown_table(
        ["case", "server", "sessions", "s", "sessions/s", "MiB/s", "server CPU s/session", "RSS MiB"],
        [[r.case, r.server, str(r.sessions) + (f" ({r.error[:60]})" if r.error else ""), f"{r.seconds:.2f}",
          f"{r.sessions_per_s:.2f}", f"{r.mib_per_s:.1f}",
          f"{r.cpu_seconds / r.sessions:.3f}" if r.sessions else "-", f"{r.rss_bytes / MIB:.1f}"]
         for r in results]))
    by = {(r.case, r.server): r for r in results}
    rows = []
    for case in dict.fromkeys(r.case for r in results):
        d, h = by.get((case, "dovecot")), by.get((case, "hivemail"))
        if d and h and d.mib_per_s:
            rows.append([case, f"{d.mib_per_s:.1f}", f"{h.mib_per_s:.1f}", f"{h.mib_per_s / d.mib_per_s:.2f}"])
    if rows:
        out += ["", markdown_table(["case", "Dovecot MiB/s", "hivemail MiB/s", "hivemail/Dovecot"], rows)]
    return "\n".join(out)


def summary_rows(results: list[Result]) -> list[dict]:
    """Rows for run_all.py's one table: MiB/s per case, target ratio 1.0."""
    by = {(r.case, r.server): r for r in results}
    rows = []
    for case in dict.fromkeys(r.case for r in results):
        d, h = by.get((case, "dovecot")), by.get((case, "hivemail"))
        rows.append({"workload": f"POP3 download, {case}", "measure": "MiB/s", "better": "higher",
                     "dovecot": d.mib_per_s if d and d.sessions else None,
                     "hivemail": h.mib_per_s if h and h.sessions else None, "target": 1.0})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("dovecot", "hivemail"))
    parser.add_argument("--quick", action="store_true", help="200 messages, 3 s per case")
    parser.add_argument("--messages", type=int, help="messages per mailbox (default 1000)")
    parser.add_argument("--seconds", type=float, help="time budget per case (default 10)")
    parser.add_argument("--workdir")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--dovecot-format", choices=("sdbox", "mdbox", "maildir"), default="sdbox",
                        help="Dovecot mail storage (default sdbox, its recommended format)")
    parser.add_argument("--dovecot-fsync", choices=("optimized", "always", "never"),
                        default="optimized", help="Dovecot mail_fsync (default optimized, as shipped)")
    parser.add_argument("--host", help="measure an already running POP3 server at this address")
    parser.add_argument("--port", type=int, help="its POP3 port")
    parser.add_argument("--user", help="account there ('{n}' -> 0..9 for ten accounts)")
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument("--pid", type=int, help="its pid, for CPU and memory figures")
    parser.add_argument("--name", default="external", help="its label in the report")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = args.messages or (200 if args.quick else 1000)
    budget = args.seconds or (3.0 if args.quick else 10.0)
    if args.host or args.port:
        global HOST
        from bench.harness import ExternalServer

        HOST = args.host or "127.0.0.1"
        server = ExternalServer(args.name, HOST, args.port or 110, args.pid)
        user = args.user or "pop{n}@example.test"
        accounts = [user.replace("{n}", str(i)) for i in range(10)] if "{n}" in user else [user]
        results = [run_case(server, args.name, c, budget, accounts, args.password) for c in (1, 10)]
        print(report(results, machine_info(args.workdir), {args.name: server.describe()}, {}, 0))
        return 0 if any(r.sessions for r in results) else 1
    names = [args.only] if args.only else ["dovecot", "hivemail"]
    factories = {"dovecot": lambda **kw: DovecotServer(mail_format=args.dovecot_format,
                                                       mail_fsync=args.dovecot_fsync, **kw),
                 "hivemail": lambda **kw: HivemailServer(protocols=("lmtp", "pop3"), **kw)}
    servers, unavailable, versions, created = {}, {}, {}, []
    info = machine_info(args.workdir)
    try:
        for name in names:
            server = factories[name](workdir_parent=args.workdir)
            created.append(server)
            print(f"starting and filling {name} ...", file=sys.stderr, flush=True)
            try:
                for user in ACCOUNTS:
                    server.add_user(user, PASSWORD)
                server.start()
                fill(server, n)
                session(server.pop3_port, ACCOUNTS[0])  # warm-up
            except (ServerError, OSError) as exc:
                server.stop()
                unavailable[name] = str(exc)
                print(f"{name} not available: {exc}", file=sys.stderr)
                continue
            servers[name] = server
            versions[name] = server.describe()
        results = []
        for clients in (1, 10):
            for name, server in servers.items():
                os.sync()
                time.sleep(0.2)
                print(f"{name}: {clients} clients ...", file=sys.stderr, flush=True)
                r = run_case(server, name, clients, budget)
                results.append(r)
                print(f"  {r.sessions} sessions, {r.mib_per_s:.1f} MiB/s {r.error}", file=sys.stderr, flush=True)
    finally:
        for server in created:
            server.stop()
    print(report(results, info, versions, unavailable, n))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "pop3", "machine": info, "versions": versions, "unavailable": unavailable,
            "messages": n, "summary": summary_rows(results),
            "results": [dict(dataclasses.asdict(r), sessions_per_s=r.sessions_per_s,
                             mib_per_s=r.mib_per_s) for r in results]}, indent=2) + "\n")
    return 0 if servers else 1


if __name__ == "__main__":
    sys.exit(main())
