#!/usr/bin/env python3
"""Idle crowd: thousands of IMAP IDLE connections, memory and wake-up time.

``--connections`` (default 5,000) authenticated connections, spread evenly
over ``--users`` accounts (default 50, so 100 each: per-user limits do not
bite and every account is a realistic "user with many devices").  Each
connection LOGINs, SELECTs its account's INBOX and enters IDLE; all are held
by one asyncio process (RLIMIT_NOFILE raised to the hard limit).

Measured per server:

* **memory per connection**: PSS summed over the server's whole process
  tree (all Dovecot processes; hivemail's supervisor and workers), measured
  after one warm-up delivery and again once every connection is idling;
  (after - before) / connections;
* **notification time**: one LMTP transaction delivers one message to all
  the accounts at once (one RCPT per account); the time from sending the
  end of DATA to the moment the *last* connection has received its
  ``* n EXISTS`` (and the median over connections, and the LMTP reply time);
* the time it took to connect the crowd (informative).

Fairness: the crowd's accounts get the same cheap argon2id hash
(t=1, m=8 KiB, p=1; both servers verify the PHC string), so 5,000 logins
take seconds instead of minutes; login cost is measured by imap_mix.py.
Dovecot runs its stock process model (one ``imap`` process per connection)
with the limits raised for the crowd (``--print-dovecot-config`` shows
them) and, as root, one uid per account, so the kernel's per-uid inotify
limit (``fs.inotify.max_user_instances``, 128) does not push its IDLE onto
30-second polling.  hivemail gets ``limits.max_connections`` raised.

With ``--host/--port/--lmtp-port/--user/--password`` (``{n}`` in --user for
several accounts) the crowd is run against an already running server; its
memory is not measured (no pid) unless ``--pid`` is given.

    bench/idle_crowd.py [--quick] [--connections N] [--users N] [--only ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import signal
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, markdown_table  # noqa: E402
from bench.corpus import Corpus  # noqa: E402
from bench.harness import add_server_options, external, make_server, server_names, write_json  # noqa: E402
from bench.servers import ServerError, process_tree, tree_pss_bytes  # noqa: E402

MIB = 1024 * 1024
PASSWORD = "bench-password"
CONNECT_CONCURRENCY = 100
NOTIFY_TIMEOUT = 120.0


def cheap_hash(password: str) -> str:
    import argon2

    return argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)


def dovecot_crowd_config(connections: int) -> str:
    """What Dovecot 2.3 needs for *connections* IDLE sessions: one imap
    process each (stock), so the process limits, the client limits of the
    services every process talks to (anvil, auth, log, config), and room in
    the login services."""
    procs = connections + 200
    return f"""
# --- idle crowd: limits raised for {connections} connections ---
default_client_limit = {2 * procs + 1000}
service imap {{
  process_limit = {procs}
}}
service imap-login {{
  process_limit = 1000
}}
"""


def hivemail_crowd_config(connections: int) -> dict:
    return {"limits": {"max_connections": connections + 1000,
                       "max_connections_per_ip": connections + 1000}}


class Idler:
    __slots__ = ("reader", "writer", "exists_at", "task")

    def __init__(self, reader, writer) -> None:
        self.reader = reader
        self.writer = writer
        self.exists_at: float | None = None
        self.task: asyncio.Task | None = None


async def open_idler(host: str, port: int, user: str, password: str, sem: asyncio.Semaphore) -> Idler:
    async with sem:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 60)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        async def until(tag: bytes) -> bytes:
            while True:
                line = await asyncio.wait_for(reader.readline(), 120)
                if not line:
                    raise ConnectionError("closed")
                if line.startswith(tag):
                    return line

        await until(b"* OK")
        writer.write(f'a LOGIN "{user}" "{password}"\r\nb SELECT INBOX\r\nc IDLE\r\n'.encode())
        for tag in (b"a ", b"b "):
            line = await until(tag)
            if not line.startswith(tag + b"OK"):
                raise ConnectionError(f"{user}: {line[:200]!r}")
        line = await until(b"+")
        return Idler(reader, writer)


async def wait_exists(idler: Idler) -> None:
    """Read until an untagged EXISTS; remember when it came."""
    while True:
        line = await idler.reader.readline()
        if not line:
            return
        if re.match(rb"\* \d+ EXISTS", line):
            idler.exists_at = time.perf_counter()
            return


def lmtp_deliver(host: str, port: int, rcpts: list[str], message: bytes) -> tuple[float, float]:
    """One transaction to every recipient; returns (perf_counter when the
    end of DATA was sent, when the last per-recipient reply came)."""
    sock = socket.create_connection((host, port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = sock.makefile("rb")

    def replies(n: int) -> None:
        for _ in range(n):
            while True:
                line = f.readline()
                if not line[:1] in (b"2", b"3"):
                    raise ConnectionError(f"LMTP: {line!r}")
                if line[3:4] != b"-":
                    break

    try:
        replies(1)
        sock.sendall(b"LHLO bench.example.test\r\n")
        replies(1)
        sock.sendall(b"MAIL FROM:<crowd@example.test>\r\n"
                     + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts) + b"DATA\r\n")
        replies(2 + len(rcpts))
        sock.sendall(message.replace(b"\r\n.", b"\r\n.."))
        t0 = time.perf_counter()
        sock.sendall(b".\r\n")
        replies(len(rcpts))
        t1 = time.perf_counter()
        sock.sendall(b"QUIT\r\n")
        return t0, t1
    finally:
        f.close()
        sock.close()


async def crowd(host: str, imap_port: int, lmtp_host: str, lmtp_port: int, users: list[str],
                password: str, connections: int, pid: int | None, result: dict) -> None:
    loop = asyncio.get_running_loop()
    message = Corpus(10, seed=31337).message(3).raw
    # Warm-up: every account has its mailbox, and the delivery path ran once.
    await loop.run_in_executor(None, lmtp_deliver, lmtp_host, lmtp_port, users, message)
    await asyncio.sleep(2.0)
    if pid:
        result["pss_before"] = await loop.run_in_executor(None, tree_pss_bytes, pid)
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    t0 = time.monotonic()
    tasks = [asyncio.create_task(open_idler(host, imap_port, users[k % len(users)], password, sem))
             for k in range(connections)]
    done = await asyncio.gather(*tasks, return_exceptions=True)
    idlers = [d for d in done if isinstance(d, Idler)]
    failures = [d for d in done if not isinstance(d, Idler)]
    result["connect_seconds"] = time.monotonic() - t0
    result["connected"] = len(idlers)
    if failures:
        result["error"] = f"{len(failures)} connections failed: " + "; ".join(
            dict.fromkeys(f"{type(e).__name__}: {e}"[:120] for e in failures[:50]))[:400]
    print(f"  {len(idlers)} idling after {result['connect_seconds']:.1f} s"
          f" ({len(failures)} failed)", file=sys.stderr, flush=True)
    try:
        await asyncio.sleep(3.0)
        if pid:
            result["pss_after"] = await loop.run_in_executor(None, tree_pss_bytes, pid)
            result["processes"] = len(process_tree(pid))
        for idler in idlers:
            idler.task = asyncio.create_task(wait_exists(idler))
        await asyncio.sleep(0.5)
        t_sent, t_replied = await loop.run_in_executor(None, lmtp_deliver, lmtp_host, lmtp_port,
                                                       users, message)
        pending = [i.task for i in idlers if i.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=NOTIFY_TIMEOUT)
        got = [i.exists_at - t_sent for i in idlers if i.exists_at is not None]
        result["lmtp_reply_seconds"] = t_replied - t_sent
        result["notified"] = len(got)
        if got:
            result["notify_last_seconds"] = max(got)
            result["notify_median_seconds"] = statistics.median(got)
        if len(got) < len(idlers):
            result["error"] = (result.get("error", "") +
                               f" {len(idlers) - len(got)} of {len(idlers)} got no EXISTS within "
                               f"{NOTIFY_TIMEOUT:g} s").strip()
    finally:
        for idler in idlers:
            if idler.task is not None:
                idler.task.cancel()
            try:
                idler.writer.close()
            except OSError:
                pass
        await asyncio.sleep(0.5)


def run(server, name: str, host: str, imap_port: int, lmtp_port: int, users: list[str],
        password: str, connections: int, pid: int | None) -> dict:
    result: dict = {"server": name, "connections": connections, "users": len(users)}
    asyncio.run(crowd(host, imap_port, host, lmtp_port, users, password, connections, pid, result))
    if "pss_before" in result and "pss_after" in result and result.get("connected"):
        result["pss_per_connection"] = (result["pss_after"] - result["pss_before"]) / result["connected"]
    return result


def _fmt(x, scale=1.0, digits=1) -> str:
    return "—" if x is None else f"{x * scale:.{digits}f}"


def report(results: list[dict], info: dict, versions: dict, unavailable: dict, args) -> tuple[str, list]:
    out = ["## Idle crowd", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- {k}: {v}" for k, v in versions.items()]
    out += [f"- {k}: NOT MEASURED ({v.splitlines()[0][:200]})" for k, v in unavailable.items()]
    out += [f"- {args.connections} IDLE connections over {args.users} accounts; one LMTP "
            "transaction to every account; PSS of the server's process tree", ""]
    out.append(markdown_table(
        ["server", "idling", "connect s", "processes", "PSS before MiB", "PSS after MiB",
         "KiB/connection", "LMTP reply ms", "EXISTS median ms", "EXISTS last ms"],
        [[r["server"], f"{r.get('connected', 0)}", _fmt(r.get("connect_seconds")),
          str(r.get("processes", "—")), _fmt(r.get("pss_before"), 1 / MIB),
          _fmt(r.get("pss_after"), 1 / MIB), _fmt(r.get("pss_per_connection"), 1 / 1024),
          _fmt(r.get("lmtp_reply_seconds"), 1000), _fmt(r.get("notify_median_seconds"), 1000),
          _fmt(r.get("notify_last_seconds"), 1000)] for r in results]))
    errs = [f"- {r['server']}: {r['error']}" for r in results if r.get("error")]
    if errs:
        out += ["", "Errors:"] + errs
    by = {r["server"]: r for r in results}
    d, h = by.get("dovecot", {}), by.get("hivemail", {})
    summary = [
        {"workload": f"Idle crowd ({args.connections})", "measure": "server memory per connection KiB (PSS)",
         "better": "lower", "dovecot": _k(d.get("pss_per_connection")),
         "hivemail": _k(h.get("pss_per_connection")), "target": 0.25},
        {"workload": f"Idle crowd ({args.connections})", "measure": "delivery -> all EXISTS ms",
         "better": "lower",
         "dovecot": _ms(d.get("notify_last_seconds")) if d.get("notified") == d.get("connected") else None,
         "hivemail": _ms(h.get("notify_last_seconds")) if h.get("notified") == h.get("connected") else None,
         "target": 1.0},
    ]
    return "\n".join(out), summary


def _k(x):
    return None if x is None else x / 1024


def _ms(x):
    return None if x is None else x * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="500 connections over 10 accounts")
    parser.add_argument("--connections", type=int, help="IDLE connections (default 5000)")
    parser.add_argument("--users", type=int, help="accounts they are spread over (default 50)")
    parser.add_argument("--lmtp-port", type=int, help="with --port: the external server's LMTP port")
    parser.add_argument("--pid", type=int, help="with --port: the external server's pid (for memory)")
    parser.add_argument("--print-dovecot-config", action="store_true",
                        help="print the settings added to Dovecot's configuration and exit")
    add_server_options(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.connections = args.connections or (500 if args.quick else 5000)
    args.users = args.users or (10 if args.quick else 50)
    if args.print_dovecot_config:
        print(dovecot_crowd_config(args.connections))
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < args.connections + 100:
        print(f"RLIMIT_NOFILE is {soft} (hard {hard}): at most {soft - 100} connections",
              file=sys.stderr)
        args.connections = soft - 100
    info = machine_info(args.workdir)
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    info["client RLIMIT_NOFILE"] = str(soft)
    results, versions, unavailable = [], {}, {}

    if external(args):
        user = args.user or "user@example.test"
        users = [user.replace("{n}", str(i)) for i in range(args.users)] if "{n}" in user else [user]
        results.append(run(None, args.name, args.host or "127.0.0.1", args.port, args.lmtp_port or 24,
                           users, args.password, args.connections, args.pid))
    else:
        users = [f"crowd{i}@example.test" for i in range(args.users)]
        hashed = cheap_hash(PASSWORD)
        for name in server_names(args):
            if name == "dovecot":
                server = make_server(name, args, protocols=("lmtp", "imap"), dovecot={
                    "per_user_uid": True, "max_userip_connections": args.connections + 100,
                    "extra_config": dovecot_crowd_config(args.connections)})
            else:
                server = make_server(name, args, protocols=("lmtp", "imap"),
                                     hivemail={"config": hivemail_crowd_config(args.connections)})
            try:
                try:
                    print(f"{name}: starting ...", file=sys.stderr, flush=True)
                    if name == "dovecot":
                        for u in users:
                            server.add_user(u, PASSWORD, password_hash=hashed)
                    else:
                        server.add_users_with_hash(users, hashed)
                    server.start()
                except (ServerError, OSError, RuntimeError) as exc:
                    unavailable[name] = str(exc)
                    print(f"{name} not available: {exc}", file=sys.stderr, flush=True)
                    continue
                versions[name] = server.describe()
                os.sync()
                print(f"{name}: {args.connections} connections ...", file=sys.stderr, flush=True)
                r = run(server, name, "127.0.0.1", server.imap_port, server.lmtp_port, users,
                        PASSWORD, args.connections, server.pid)
                results.append(r)
                print(f"  {r.get('pss_per_connection', 0) / 1024:.1f} KiB/conn, last EXISTS "
                      f"{_fmt(r.get('notify_last_seconds'), 1000)} ms {r.get('error', '')}",
                      file=sys.stderr, flush=True)
                if name == "dovecot":
                    log = server.log_text(400)
                    warn = [ln for ln in log.splitlines() if "notify" in ln.lower() or "limit" in ln.lower()]
                    if warn:
                        r["log_warnings"] = warn[:5]
                        print("  dovecot log: " + " | ".join(warn[:3]), file=sys.stderr)
            finally:
                server.stop()
    text, summary = report(results, info, versions, unavailable, args)
    print(text)
    write_json(args.json, {"benchmark": "idle_crowd", "machine": info, "versions": versions,
                           "unavailable": unavailable, "summary": summary, "results": results})
    return 0 if any(r.get("connected") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
