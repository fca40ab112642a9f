#!/usr/bin/env python3
"""LMTP delivery throughput, Dovecot and hivemail side by side.

For each case (10 KiB and 1 MiB messages; 1 and 4 parallel connections)
each server gets the same deterministic messages over LMTP: one
``smtplib.LMTP`` connection per worker thread, several messages per
connection (MAIL, RCPT, DATA, then RSET), each message distinct (its own
Message-ID and first body line) so no store can deduplicate them.  A case
stops after its message count or its time limit, whichever comes first.

Reported per server and case: messages/s, MiB/s of message bytes, the
server's CPU per message (its whole process tree, from /proc), the RSS and
PSS of its process tree after the case, and the hivemail/Dovecot ratio.

Cases are interleaved (case 1 on Dovecot, case 1 on hivemail, case 2 ...)
with an ``os.sync()`` before each, so slow drift of the machine hits both.
The client runs on the same machine: on a small one its CPU competes with
the server's, identically for both.

This is a benchmark, not a test: it exits 0 when at least one server was
measured.  If hivemail cannot start (or add a user), that is printed and the
Dovecot figures are still reported.

    bench/delivery.py [--quick] [--only dovecot|hivemail] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import random
import signal
import smtplib
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, markdown_table  # noqa: E402
from bench.servers import (  # noqa: E402
    DovecotServer,
    HivemailServer,
    ServerError,
)

KIB = 1024
MIB = 1024 * 1024
SENDER = "bench-sender@example.test"
PASSWORD = "bench-password"
SOCKET_TIMEOUT = 60.0  # a hung server fails the case instead of the run
HOST = "127.0.0.1"  # --host


@dataclasses.dataclass(frozen=True)
class Case:
    name: str  # "10KiB x1"
    size: int  # target message size in bytes
    conns: int  # parallel LMTP connections
    count: int  # messages to deliver at most
    max_seconds: float  # and for at most this long


@dataclasses.dataclass
class Result:
    server: str
    case: str
    delivered: int = 0
    failed: int = 0
    seconds: float = 0.0
    message_bytes: int = 0
    cpu_seconds: float = 0.0
    rss_bytes: int = 0
    pss_bytes: int = 0
    error: str = ""

    @property
    def msgs_per_s(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def mib_per_s(self) -> float:
        return self.message_bytes / MIB / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_msg(self) -> float:
        return 1000 * self.cpu_seconds / self.delivered if self.delivered else 0.0


# --------------------------------------------------------------------------
# Messages


def make_body(size: int, seed: int) -> bytes:
    """About *size* bytes of deterministic ASCII text in CRLF lines of at
    most 76 characters.  Every 97th line starts with a dot, so the DATA
    stream really is dot-stuffed.  Returned unstuffed."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(512)]
    lines: list[bytes] = []
    total = 0
    while total < size:
        words: list[str] = []
        width = 0
        while True:
            w = rng.choice(vocab)
            if width + len(w) + 1 > 76:
                break
            words.append(w)
            width += len(w) + 1
        line = " ".join(words)
        if len(lines) % 97 == 96:
            line = "." + line[1:]
        raw = line.encode("ascii") + b"\r\n"
        lines.append(raw)
        total += len(raw)
    return b"".join(lines)


def dot_stuff(body: bytes) -> bytes:
    """RFC 5321 section 4.5.2: a line starting with "." gets another."""
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


class MessageSource:
    """The messages of one case: a shared, pre-stuffed body and a small
    distinct head per message (headers plus a first body line)."""

    def __init__(self, case: Case, case_index: int) -> None:
        self.case = case
        self.case_index = case_index
        head_estimate = 400
        self.body = make_body(max(case.size - head_estimate, 64), seed=case.size)
        self.stuffed_body = dot_stuff(self.body)

    def head(self, seq: int, rcpt: str) -> bytes:
        # Nothing here starts with ".", so the head needs no stuffing.
        return (
            f"From: Bench Sender <{SENDER}>\r\n"
            f"To: <{rcpt}>\r\n"
            f"Subject: delivery benchmark {self.case.name} message {seq}\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
            f"Message-ID: <c{self.case_index}.m{seq}@bench.example.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            f"X-Bench-Seq: {seq}\r\n"
            "\r\n"
            f"Message {seq} of case {self.case.name}.\r\n"
        ).encode("ascii")


# --------------------------------------------------------------------------
# Delivery


class _Shared:
    def __init__(self, count: int) -> None:
        self.lock = threading.Lock()
        self.seqs = itertools.count()
        self.count = count
        self.deadline = float("inf")  # set when the workers are released
        self.delivered = 0
        self.failed = 0
        self.bytes = 0
        self.errors: list[str] = []

    def next_seq(self) -> int | None:
        with self.lock:
            seq = next(self.seqs)
        if seq >= self.count or time.monotonic() >= self.deadline:
            return None
        return seq


def _check(reply: tuple[int, bytes], expected: tuple[int, ...], what: str) -> None:
    code, text = reply
    if code not in expected:
        raise smtplib.SMTPResponseException(code, f"{what}: {text!r}".encode())


def _worker(port: int, rcpt: str, source: MessageSource, shared: _Shared,
            ready: threading.Barrier) -> None:
    conn: smtplib.LMTP | None = None
    try:
        conn = smtplib.LMTP(HOST, port, timeout=SOCKET_TIMEOUT)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _check(conn.ehlo(), (250,), "LHLO")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        with shared.lock:
            shared.errors.append(f"connect: {exc!r}")
        conn = None
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        return
    if conn is None:
        return
    try:
        while (seq := shared.next_seq()) is not None:
            head = source.head(seq, rcpt)
            _check(conn.mail(SENDER), (250,), "MAIL")
            _check(conn.rcpt(rcpt), (250, 251), "RCPT")
            conn.putcmd("data")
            _check(conn.getreply(), (354,), "DATA")
            # One write, as a buffered MTA client does: three writes would
            # leave the small tail to Nagle's algorithm and the peer's
            # delayed ACK, a client artefact of some ms per message.
            conn.sock.sendall(b"".join((head, source.stuffed_body, b".\r\n")))
            # LMTP: one reply per accepted recipient; there is one.
            _check(conn.getreply(), (250,), "end of DATA")
            with shared.lock:
                shared.delivered += 1
                shared.bytes += len(head) + len(source.body)
            _check(conn.rset(), (250,), "RSET")
        conn.quit()
    except Exception as exc:  # noqa: BLE001 - one worker's failure ends its loop
        with shared.lock:
            shared.failed += 1
            shared.errors.append(repr(exc))
        try:
            conn.close()
        except OSError:
            pass


def run_case(server, label: str, case: Case, source: MessageSource, rcpts: list[str]) -> Result:
    """Deliver *case* to *server* with one thread per connection; time from
    the moment every worker has connected and said LHLO to the last one
    finishing."""
    result = Result(server=label, case=case.name)
    shared = _Shared(case.count)
    start: dict[str, float] = {}

    def go() -> None:
        # Runs once, when every worker is connected, before any is released.
        start["cpu"] = server.cpu_seconds()
        start["t"] = time.monotonic()
        shared.deadline = start["t"] + case.max_seconds

    ready = threading.Barrier(case.conns + 1, action=go)
    threads = [
        threading.Thread(target=_worker, args=(server.lmtp_port, rcpts[i], source, shared, ready),
                         name=f"{label}-lmtp-{i}", daemon=True)
        for i in range(case.conns)
    ]
    for t in threads:
        t.start()
    try:
        ready.wait(timeout=SOCKET_TIMEOUT)
    except threading.BrokenBarrierError:
        result.error = "workers did not connect in time"
        return result
    # Workers may overrun the deadline by one message; join() waits for it
    # (bounded by the socket timeout).
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - start["t"]
    result.cpu_seconds = server.cpu_seconds() - start["cpu"]
    result.delivered = shared.delivered
    result.failed = shared.failed
    result.message_bytes = shared.bytes
    result.rss_bytes = server.rss_bytes()
    result.pss_bytes = server.pss_bytes()
    if shared.errors:
        result.error = "; ".join(dict.fromkeys(shared.errors))[:300]
    return result


# --------------------------------------------------------------------------
# Driver


def build_cases(args: argparse.Namespace) -> list[Case]:
    if args.quick:
        small, large, limit = 100, 10, 5.0
    else:
        small, large, limit = 1000, 100, 20.0
    small = args.small_count or small
    large = args.large_count or large
    limit = args.max_seconds or limit
    return [
        Case("10KiB x1", 10 * KIB, 1, small, limit),
        Case("10KiB x4", 10 * KIB, 4, small, limit),
        Case("1MiB x1", MIB, 1, large, limit),
        Case("1MiB x4", MIB, 4, large, limit),
    ]


def recipients(case_index: int, case: Case, same_mailbox: bool) -> list[str]:
    if same_mailbox:
        return [f"c{case_index}@example.test"] * case.conns
    return [f"c{case_index}w{w}@example.test" for w in range(case.conns)]


def start_server(label: str, server, users: list[str]) -> str | None:
    """Add *users* and start; returns None, or why the server is unavailable."""
    try:
        for user in users:
            server.add_user(user, PASSWORD)
        server.start()
    except ServerError as exc:
        server.stop()
        return str(exc)
    return None


def warm_up(server, label: str) -> str | None:
    """A few deliveries to a separate mailbox, so process spawning and
    first-time directory creation are not measured."""
    case = Case("warm-up", 10 * KIB, 1, 5, 10.0)
    result = run_case(server, label, case, MessageSource(case, 99), ["warmup@example.test"])
    if result.delivered < case.count:
        return f"warm-up delivered {result.delivered}/{case.count}: {result.error}"
    return None


def format_report(results: list[Result], cases: list[Case], unavailable: dict[str, str],
                  info: dict[str, str], versions: dict[str, str]) -> str:
    out = ["## LMTP delivery", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- {name}: {v}" for name, v in versions.items()]
    out += [f"- {name}: NOT MEASURED ({why.splitlines()[0][:200]})" for name, why in unavailable.items()]
    out.append("")
    rows = []
    for r in results:
        rows.append([
            r.case, r.server, f"{r.delivered}" + (f" ({r.failed} failed)" if r.failed else ""),
            f"{r.seconds:.2f}", f"{r.msgs_per_s:.1f}", f"{r.mib_per_s:.2f}",
            f"{r.cpu_ms_per_msg:.2f}", f"{r.rss_bytes / MIB:.1f}", f"{r.pss_bytes / MIB:.1f}",
        ])
    out.append(markdown_table(
        ["case", "server", "msgs", "s", "msgs/s", "MiB/s", "server CPU ms/msg",
         "RSS MiB (sum)", "PSS MiB"], rows))
    errors = [r for r in results if r.error]
    if errors:
        out += ["", "Errors:"] + [f"- {r.server} {r.case}: {r.error}" for r in errors]
    by = {(r.server, r.case): r for r in results}
    ratio_rows = []
    for case in cases:
        d, h = by.get(("dovecot", case.name)), by.get(("hivemail", case.name))
        if d and h and d.msgs_per_s and h.delivered:
            ratio_rows.append([case.name, f"{d.msgs_per_s:.1f}", f"{h.msgs_per_s:.1f}",
                               f"{h.msgs_per_s / d.msgs_per_s:.2f}"])
    if ratio_rows:
        out += ["", markdown_table(["case", "Dovecot msgs/s", "hivemail msgs/s",
                                    "hivemail/Dovecot"], ratio_rows)]
    else:
        out += ["", "(no hivemail/Dovecot ratio: both servers must be measured)"]
    return "\n".join(out)


def run_external(args: argparse.Namespace) -> int:
    """The cases against an already running server (--host/--port)."""
    global HOST
    from bench.harness import ExternalServer

    HOST = args.host or "127.0.0.1"
    server = ExternalServer(args.name, HOST, args.port or 24, args.pid)
    cases = build_cases(args)
    info = machine_info(args.workdir)
    results = []
    for i, case in enumerate(cases):
        rcpts = [args.user] * case.conns if args.user else recipients(i, case, args.same_mailbox)
        print(f"{args.name}: {case.name} ...", file=sys.stderr, flush=True)
        results.append(run_case(server, args.name, case, MessageSource(case, i), rcpts))
    print(format_report(results, cases, {}, info, {args.name: server.describe()}))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "delivery", "machine": info,
            "results": [dict(dataclasses.asdict(r), msgs_per_s=r.msgs_per_s) for r in results]},
            indent=2) + "\n")
    return 0 if any(r.delivered for r in results) else 1


def summary_rows(results: list[Result], cases: list[Case]) -> list[dict]:
    """Rows for run_all.py's one table: msgs/s per case, target ratio 1.0."""
    by = {(r.server, r.case): r for r in results}
    rows = []
    for case in cases:
        d, h = by.get(("dovecot", case.name)), by.get(("hivemail", case.name))
        rows.append({"workload": f"LMTP delivery {case.name}", "measure": "msgs/s", "better": "higher",
                     "dovecot": d.msgs_per_s if d and d.delivered else None,
                     "hivemail": h.msgs_per_s if h and h.delivered else None, "target": 1.0})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("dovecot", "hivemail"), help="measure one server")
    parser.add_argument("--quick", action="store_true",
                        help="100 small / 10 large messages, at most 5 s per case")
    parser.add_argument("--small-count", type=int, help="10 KiB messages per case (default 1000)")
    parser.add_argument("--large-count", type=int, help="1 MiB messages per case (default 100)")
    parser.add_argument("--max-seconds", type=float, help="time limit per case (default 20)")
    parser.add_argument("--same-mailbox", action="store_true",
                        help="all connections of a case deliver to one mailbox "
                             "(default: one mailbox per connection)")
    parser.add_argument("--hivemail-command", metavar="CMD",
                        help="how to run hivemail, split on spaces (default: the repo venv's "
                             "hivemail, else hivemail on PATH, else python -m hivemail)")
    parser.add_argument("--workdir", help="parent of the servers' temporary directories")
    parser.add_argument("--keep", action="store_true", help="keep the servers' directories")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--dovecot-format", choices=("sdbox", "mdbox", "maildir"), default="sdbox",
                        help="Dovecot mail storage (default sdbox, its recommended format)")
    parser.add_argument("--dovecot-fsync", choices=("optimized", "always", "never"),
                        default="optimized", help="Dovecot mail_fsync (default optimized, as shipped)")
    parser.add_argument("--host", help="deliver to an already running LMTP server at this address")
    parser.add_argument("--port", type=int, help="its LMTP port")
    parser.add_argument("--user", help="recipient there (default: one per connection, "
                                       "c<case>w<n>@example.test, which must exist)")
    parser.add_argument("--pid", type=int, help="its pid, for CPU and memory figures")
    parser.add_argument("--name", default="external", help="its label in the report")
    args = parser.parse_args(argv)
    # SIGTERM unwinds through the finally below, which stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.host or args.port:
        return run_external(args)

    cases = build_cases(args)
    users = ["warmup@example.test"] + sorted({
        rcpt for i, case in enumerate(cases) for rcpt in recipients(i, case, args.same_mailbox)
    })
    names = [args.only] if args.only else ["dovecot", "hivemail"]
    hivemail_cmd = args.hivemail_command.split() if args.hivemail_command else None
    factories = {
        "dovecot": lambda **kw: DovecotServer(mail_format=args.dovecot_format,
                                              mail_fsync=args.dovecot_fsync, **kw),
        # Only the listener this benchmark uses: IMAP and POP3 may not exist yet.
        "hivemail": lambda **kw: HivemailServer(command=hivemail_cmd, protocols=("lmtp",), **kw),
    }
    servers, unavailable, versions = {}, {}, {}
    info = machine_info(args.workdir)
    created = []
    try:
        for name in names:
            server = factories[name](workdir_parent=args.workdir, keep=args.keep)
            created.append(server)
            print(f"starting {name} ...", file=sys.stderr, flush=True)
            why = start_server(name, server, users)
            if why is None and (why := warm_up(server, name)):
                why += "\nserver log tail:\n" + server.log_text(10)
            if why:
                server.stop()
                unavailable[name] = why
                print(f"{name} is not available, not measured:\n{why}", file=sys.stderr, flush=True)
                continue
            servers[name] = server
            versions[name] = server.describe()
        results: list[Result] = []
        for i, case in enumerate(cases):
            source = MessageSource(case, i)
            rcpts = recipients(i, case, args.same_mailbox)
            for name, server in servers.items():
                os.sync()
                time.sleep(0.2)
                print(f"{name}: {case.name} ...", file=sys.stderr, flush=True)
                result = run_case(server, name, case, source, rcpts)
                results.append(result)
                print(f"  {result.delivered} msgs in {result.seconds:.2f} s = "
                      f"{result.msgs_per_s:.1f} msgs/s {result.error}", file=sys.stderr, flush=True)
    finally:
        for server in created:
            server.stop()

    print(format_report(results, cases, unavailable, info, versions))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "delivery",
            "machine": info,
            "versions": versions,
            "unavailable": unavailable,
            "cases": [dataclasses.asdict(c) for c in cases],
            "results": [dict(dataclasses.asdict(r), msgs_per_s=r.msgs_per_s, mib_per_s=r.mib_per_s,
                             cpu_ms_per_msg=r.cpu_ms_per_msg) for r in results],
            "summary": summary_rows(results, cases),
        }, indent=2) + "\n")
    return 0 if servers else 1


if __name__ == "__main__":
    sys.exit(main())
