#!/usr/bin/env python3
"""IMAP mixed load: K concurrent clients doing what mail clients do.

Each server gets ``--users`` accounts (default 10) whose INBOX holds
``--messages`` messages (default 2,000) from ``bench/corpus.py`` (a different
seed per user; 1 KiB-1 MiB, threads, multipart, attachments), loaded with
``bench/populate.py``.  For each K in ``--clients`` (default 10 and 50),
K asyncio raw-socket clients (client k uses account k mod users, so several
clients share a mailbox, as a user's devices do) loop for ``--duration``
seconds over one *session*:

    LOGIN, SELECT INBOX,
    FETCH lo:lo+19 (FLAGS ENVELOPE BODYSTRUCTURE),
    FETCH n BODY[] for 2 random messages,
    UID SEARCH FLAGGED, UID SEARCH HEADER SUBJECT <word>, UID SEARCH BODY <rare word>,
    STORE +FLAGS (\\Flagged) and -FLAGS on a random message,
    APPEND a corpus message, UID STORE +FLAGS (\\Deleted) on it, EXPUNGE,
    LOGOUT

Every command is one operation.  Reported per server and K: ops/s (all
commands), sessions, p50/p99 latency per command and over all commands,
the server's CPU per op; the hivemail/Dovecot ratios of ops/s and overall
p99.  A session in progress at the deadline is finished (bounded by the
command timeout).  Servers alternate per K, with ``os.sync()`` before each.

With ``--host/--port/--user/--password`` the same load runs against an
already running server (every client on that one account, or ``{n}`` in
--user for several); whatever the INBOX holds is used.

    bench/imap_mix.py [--quick] [--clients 10,50] [--duration S] [--users N]
                      [--messages N] [--only dovecot|hivemail] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.aimap import AsyncImap, ImapError, appenduid  # noqa: E402
from bench.common import machine_info, markdown_table  # noqa: E402
from bench.corpus import RARE_WORD, SUBJECT_WORD, Corpus  # noqa: E402
from bench.harness import (PASSWORD, add_server_options, external, make_server, pct,  # noqa: E402
                           server_names, write_json)
from bench.populate import populate_dovecot, populate_hivemail  # noqa: E402
from bench.servers import ServerError  # noqa: E402

COMMAND_TIMEOUT = 120.0
OPS = ("LOGIN", "SELECT", "FETCH 20 (FLAGS ENVELOPE BODYSTRUCTURE)", "FETCH BODY[]",
       "UID SEARCH FLAGGED", "UID SEARCH HEADER SUBJECT", "UID SEARCH BODY", "STORE",
       "APPEND", "EXPUNGE", "LOGOUT")


@dataclasses.dataclass
class Result:
    server: str
    clients: int
    seconds: float = 0.0
    ops: int = 0
    sessions: int = 0
    errors: int = 0
    cpu_seconds: float = 0.0
    latencies: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    error: str = ""

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def all_latencies(self) -> list[float]:
        return [x for xs in self.latencies.values() for x in xs]

    def p(self, q: float, op: str | None = None) -> float | None:
        return pct(self.all_latencies() if op is None else self.latencies.get(op, []), q)

    def p_without_login(self, q: float) -> float | None:
        return pct([x for op, xs in self.latencies.items() if op != "LOGIN" for x in xs], q)


def append_corpus(users: int, messages: int) -> list[bytes]:
    """Messages the clients APPEND (beyond the mailboxes' own)."""
    c = Corpus(messages + 200, seed=777)
    return [c.message(messages + i).raw for i in range(200)]


async def client_loop(host: str, port: int, user: str, password: str, index: int, deadline: float,
                      to_append: list[bytes], result: Result, errors: list[str]) -> None:
    rng = random.Random(9000 + index)
    lat = result.latencies

    async def timed(op: str, coro):
        t0 = time.perf_counter()
        out = await asyncio.wait_for(coro, COMMAND_TIMEOUT)
        lat.setdefault(op, []).append(time.perf_counter() - t0)
        result.ops += 1
        return out

    while time.monotonic() < deadline:
        c = None
        try:
            t0 = time.perf_counter()
            c = await asyncio.wait_for(AsyncImap.connect(host, port), COMMAND_TIMEOUT)
            await timed("LOGIN", c.login(user, password))
            lat["LOGIN"][-1] = time.perf_counter() - t0  # connect + greeting + LOGIN
            await timed("SELECT", c.ok("SELECT INBOX"))
            # Sequence numbers come from this session's view (c.exists
            # follows EXISTS/EXPUNGE): other clients expunge concurrently.
            n = max(1, c.exists)
            lo = rng.randint(1, max(1, n - 19))
            await timed(OPS[2], c.ok(f"FETCH {lo}:{min(n, lo + 19)} (FLAGS ENVELOPE BODYSTRUCTURE)"))
            for _ in range(2):
                # NO is a valid answer for a message another session has
                # expunged meanwhile (Dovecot: "no longer exist"); BAD is not.
                await timed("FETCH BODY[]", c.not_bad(f"FETCH {rng.randint(1, max(1, c.exists))} BODY[]"))
            await timed("UID SEARCH FLAGGED", c.ok("UID SEARCH FLAGGED"))
            await timed("UID SEARCH HEADER SUBJECT", c.ok(f"UID SEARCH HEADER SUBJECT {SUBJECT_WORD}"))
            await timed("UID SEARCH BODY", c.ok(f"UID SEARCH BODY {RARE_WORD}"))
            m = rng.randint(1, max(1, c.exists))
            await timed("STORE", c.not_bad(f"STORE {m} +FLAGS (\\Flagged)"))
            await timed("STORE", c.not_bad(f"STORE {m} -FLAGS (\\Flagged)"))
            status, _ = await timed("APPEND", c.append("INBOX", rng.choice(to_append), "\\Seen"))
            if not status.startswith(b"OK"):
                raise ImapError(f"APPEND -> {status[:200]!r}")
            uid = appenduid(status)
            if uid is not None:
                await timed("STORE", c.ok(f"UID STORE {uid} +FLAGS (\\Deleted)"))
                await timed("EXPUNGE", c.ok("EXPUNGE"))
            await timed("LOGOUT", c.ok("LOGOUT"))
            c.close()
            c = None
            result.sessions += 1
        except (ImapError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            result.errors += 1
            if len(errors) < 20:
                errors.append(f"client {index}: {type(exc).__name__}: {exc}"[:300])
            if c is not None:
                c.close()
            await asyncio.sleep(0.2)


async def run_load(host: str, port: int, users: list[str], password: str, clients: int,
                   duration: float, to_append: list[bytes], result: Result) -> None:
    errors: list[str] = []
    deadline = time.monotonic() + duration
    t0 = time.monotonic()
    await asyncio.gather(*(client_loop(host, port, users[k % len(users)], password, k, deadline,
                                       to_append, result, errors) for k in range(clients)))
    result.seconds = time.monotonic() - t0
    if errors:
        result.error = "; ".join(dict.fromkeys(errors))[:500]


def measure(server, name: str, host: str, port: int, users: list[str], password: str,
            clients: int, duration: float, to_append: list[bytes]) -> Result:
    result = Result(server=name, clients=clients)
    cpu0 = server.cpu_seconds() if server is not None else 0.0
    asyncio.run(run_load(host, port, users, password, clients, duration, to_append, result))
    if server is not None:
        result.cpu_seconds = server.cpu_seconds() - cpu0
    return result


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{1000 * x:.1f}"


def report(results: list[Result], info: dict, versions: dict, unavailable: dict, args) -> tuple[str, list]:
    out = ["## IMAP mixed load", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- {k}: {v}" for k, v in versions.items()]
    out += [f"- {k}: NOT MEASURED ({v.splitlines()[0][:200]})" for k, v in unavailable.items()]
    out += [f"- {args.users} accounts x {args.messages} messages (bench/corpus.py), clients share "
            f"accounts round-robin; {args.duration:g} s per case; session = LOGIN, SELECT, FETCH 20 "
            "(FLAGS ENVELOPE BODYSTRUCTURE), 2x FETCH BODY[], UID SEARCH FLAGGED / HEADER SUBJECT / "
            "BODY, 2x STORE, APPEND, STORE \\Deleted, EXPUNGE, LOGOUT", ""]
    out.append(markdown_table(
        ["K", "server", "ops", "sessions", "s", "ops/s", "p50 ms", "p99 ms", "p99 ms without LOGIN",
         "server CPU ms/op"],
        [[str(r.clients), r.server, f"{r.ops}" + (f" ({r.errors} failed)" if r.errors else ""),
          str(r.sessions), f"{r.seconds:.1f}", f"{r.ops_per_s:.1f}", _ms(r.p(0.5)), _ms(r.p(0.99)),
          _ms(r.p_without_login(0.99)),
          f"{1000 * r.cpu_seconds / r.ops:.2f}" if r.ops else "—"] for r in results]))
    out += ["", "p50 / p99 ms per command:", ""]
    out.append(markdown_table(
        ["command"] + [f"{r.server} K={r.clients}" for r in results],
        [[op] + [f"{_ms(r.p(0.5, op))} / {_ms(r.p(0.99, op))}" for r in results] for op in OPS]))
    errs = [f"- {r.server} K={r.clients}: {r.error}" for r in results if r.error]
    if errs:
        out += ["", "Errors:"] + errs
    summary = []
    by = {(r.server, r.clients): r for r in results}
    for k in args.clients:
        d, h = by.get(("dovecot", k)), by.get(("hivemail", k))
        summary.append({"workload": f"IMAP mix K={k}", "measure": "ops/s", "better": "higher",
                        "dovecot": d.ops_per_s if d and d.ops else None,
                        "hivemail": h.ops_per_s if h and h.ops else None, "target": 1.0})
        summary.append({"workload": f"IMAP mix K={k}", "measure": "p99 latency ms (all commands)",
                        "better": "lower",
                        "dovecot": 1000 * d.p(0.99) if d and d.ops else None,
                        "hivemail": 1000 * h.p(0.99) if h and h.ops else None, "target": 1.0})
    return "\n".join(out), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 users x 300 messages, 5 s per case")
    parser.add_argument("--clients", default="10,50", help="comma-separated K values (default 10,50)")
    parser.add_argument("--duration", type=float, help="seconds per case (default 20)")
    parser.add_argument("--users", type=int, help="accounts per server (default 10)")
    parser.add_argument("--messages", type=int, help="messages per INBOX (default 2000)")
    add_server_options(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.clients = [int(x) for x in str(args.clients).split(",") if x]
    args.duration = args.duration or (5.0 if args.quick else 20.0)
    args.users = args.users or (3 if args.quick else 10)
    args.messages = args.messages or (300 if args.quick else 2000)
    to_append = append_corpus(args.users, args.messages)
    info = machine_info(args.workdir)
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    results: list[Result] = []
    versions: dict[str, str] = {}
    unavailable: dict[str, str] = {}

    if external(args):
        user = args.user or "user@example.test"
        users = [user.replace("{n}", str(i)) for i in range(args.users)] if "{n}" in user else [user]
        for k in args.clients:
            print(f"{args.name}: K={k} ...", file=sys.stderr, flush=True)
            results.append(measure(None, args.name, args.host or "127.0.0.1", args.port, users,
                                   args.password, k, args.duration, to_append))
    else:
        users = [f"mix{i}@example.test" for i in range(args.users)]
        boxes = [(u, Corpus(args.messages, seed=5000 + i, to=u)) for i, u in enumerate(users)]
        servers, created = {}, []
        try:
            for name in server_names(args):
                server = make_server(name, args, protocols=("lmtp", "imap"),
                                     hivemail={"config": {"limits": {"max_connections": 2000,
                                                                     "max_connections_per_ip": 2000}}})
                created.append(server)
                try:
                    for u in users:
                        server.add_user(u, PASSWORD)
                    print(f"{name}: populating {len(users)} x {args.messages} ...", file=sys.stderr,
                          flush=True)
                    if name == "dovecot":
                        secs = populate_dovecot(server, boxes)
                    else:
                        secs = populate_hivemail(server, boxes)
                    if server.process is None:
                        server.start()
                except (ServerError, OSError, RuntimeError) as exc:
                    server.stop()
                    unavailable[name] = str(exc)
                    print(f"{name} not available: {exc}", file=sys.stderr, flush=True)
                    continue
                print(f"{name}: populated in {secs:.1f} s", file=sys.stderr, flush=True)
                servers[name] = server
                versions[name] = server.describe() + f"; population {secs:.1f} s"
            for k in args.clients:
                for name, server in servers.items():
                    os.sync()
                    time.sleep(0.2)
                    print(f"{name}: K={k}, {args.duration:g} s ...", file=sys.stderr, flush=True)
                    r = measure(server, name, "127.0.0.1", server.imap_port, users, PASSWORD, k,
                                args.duration, to_append)
                    results.append(r)
                    print(f"  {r.ops} ops, {r.ops_per_s:.1f} ops/s, p99 {_ms(r.p(0.99))} ms, "
                          f"{r.errors} failed {r.error[:200]}", file=sys.stderr, flush=True)
        finally:
            for server in created:
                server.stop()
    text, summary = report(results, info, versions, unavailable, args)
    print(text)
    write_json(args.json, {
        "benchmark": "imap_mix", "machine": info, "versions": versions, "unavailable": unavailable,
        "summary": summary,
        "results": [{"server": r.server, "clients": r.clients, "ops": r.ops, "sessions": r.sessions,
                     "seconds": r.seconds, "ops_per_s": r.ops_per_s, "errors": r.errors,
                     "error": r.error, "cpu_seconds": r.cpu_seconds,
                     "p50": r.p(0.5), "p99": r.p(0.99), "p99_without_login": r.p_without_login(0.99),
                     "per_command": {op: {"n": len(xs), "p50": pct(xs, 0.5), "p99": pct(xs, 0.99),
                                          "mean": statistics.mean(xs) if xs else None}
                                     for op, xs in r.latencies.items()}} for r in results]})
    return 0 if any(r.ops for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
