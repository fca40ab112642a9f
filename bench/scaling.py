#!/usr/bin/env python3
"""Scaling over PostgreSQL: the IMAP mix against one and two hivemail nodes.

Issue 9: several hivemail nodes can share one PostgreSQL database.  This
script measures what a second node adds, on this machine:

1. starts a throwaway PostgreSQL cluster (``tests/support/postgres.py``'s
   ``Cluster``: initdb + pg_ctl on a free loopback port, **fsync=off**,
   synchronous_commit=off) and makes a database;
2. fills it: ``--users`` accounts (default 10), each INBOX with
   ``--messages`` corpus messages (default 500; ``bench/corpus.py``, the
   seeds ``imap_mix.py`` uses).  The bulk path: ``hivemail user add`` and
   ``bench/populate.py``'s ``populate_hivemail`` into a staging embedded
   store, then ``hivemail migrate --from STAGING --to URL`` (UIDs, flags,
   dates kept), then the full-text index is built in this process
   (``PostgresStore.update_search_index``), as a node's indexer would
   shortly after each delivery;
3. phase 1: one node (``hivemail --data A --storage URL serve --workers 1``),
   K clients (default 20) running ``imap_mix.py``'s session loop
   (``client_loop``: LOGIN, SELECT, FETCH, SEARCH, STORE, APPEND, EXPUNGE,
   LOGOUT) for ``--duration`` seconds (default 20);
4. phase 2: two nodes (``--workers 1`` each, their own ``--data``, the same
   ``--storage``), the same K clients, the first half on node A's IMAP port
   and the second half on node B's.  Client k uses account k mod users, so
   with the defaults every account has one client on each node (a user's
   two devices behind a load balancer) and each node sees the other's
   APPEND/EXPUNGE/STORE through the database.

Each phase starts fresh node(s), runs an unmeasured ``--warmup`` (default
3 s) of the same load, then measures.  Reported per phase: ops/s, p50/p99
(all commands, and without LOGIN), the CPU seconds of the hivemail
process trees, of the PostgreSQL cluster (the postmaster's process tree,
reaped backends included), of this process (the load generator) and of the
whole machine (/proc/stat), and the scaling factor = ops/s(two nodes) /
ops/s(one node).

The nodes, PostgreSQL and the load generator share this machine's cores,
so on a small machine the factor measures contention for those cores, not
what two nodes on separate machines would give; the CPU table shows where
the time went.  Every loop is bounded in count and time (``imap_mix``'s
command timeout; the session in progress at the deadline is finished);
every process is stopped by its own pid at the end, also on error or
SIGTERM.

    bench/scaling.py [--quick] [--clients K] [--duration S] [--warmup S]
                     [--users N] [--messages N] [--json FILE] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, markdown_table  # noqa: E402
from bench.corpus import Corpus  # noqa: E402
from bench.harness import PASSWORD, add_server_options, external, make_server, pct, write_json  # noqa: E402
from bench.imap_mix import OPS, Result, _ms, append_corpus, client_loop  # noqa: E402
from bench.populate import populate_hivemail  # noqa: E402
from bench.servers import REPO_ROOT, HivemailServer, tree_cpu_seconds  # noqa: E402

NODE_CONFIG = {"limits": {"max_connections": 2000, "max_connections_per_ip": 2000}}


# -- CPU accounting ------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0
    # user nice system idle iowait irq softirq steal (guest* are inside user)
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def postmaster_pid(cluster) -> int | None:
    try:
        return int((cluster.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pg_version(cluster) -> str:
    try:
        out = subprocess.run([str(cluster.bindir / "postgres"), "--version"], capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip() or "PostgreSQL (version unknown)"
    except (OSError, subprocess.TimeoutExpired):
        return "PostgreSQL (version unknown)"


# -- set-up ----------------------------------------------------------------------


def populate(args, url: str, users: list[str], boxes: list[tuple[str, Corpus]]) -> dict[str, float]:
    """Accounts and mailboxes into the database at *url*; seconds per step."""
    steps: dict[str, float] = {}
    staging = make_server("hivemail", args, protocols=("lmtp",))
    try:
        t0 = time.monotonic()
        for u in users:
            staging.add_user(u, PASSWORD)
        steps["accounts (hivemail user add, embedded staging store)"] = time.monotonic() - t0
        steps["messages (populate_hivemail, staging store)"] = populate_hivemail(staging, boxes)
        t0 = time.monotonic()
        proc = subprocess.run([*staging.command, "migrate", "--from", str(staging.data_dir), "--to", url],
                              capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"hivemail migrate exited {proc.returncode}: "
                               f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        steps["hivemail migrate into PostgreSQL"] = time.monotonic() - t0
    finally:
        staging.stop()
    t0 = time.monotonic()
    indexed = asyncio.run(build_index(url))
    steps[f"search index ({indexed} blobs)"] = time.monotonic() - t0
    return steps


async def build_index(url: str) -> int:
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from hivemail.mailstore.postgres.store import PostgresStore

    store = PostgresStore(url, background_index=False)
    await store.open()
    try:
        return await store.update_search_index()
    finally:
        await store.close()


def start_node(args, url: str) -> HivemailServer:
    """``hivemail --data <own dir> --config .. serve --lmtp .. --imap .. --workers 1 --storage URL``."""
    node = HivemailServer(command=args.hivemail_command.split() if args.hivemail_command else None,
                          protocols=("lmtp", "imap"), workers=1, extra_args=["--storage", url],
                          config=NODE_CONFIG, workdir_parent=args.workdir, keep=args.keep, start_timeout=120)
    node.start()
    return node


# -- the load ----------------------------------------------------------------------


async def split_load(ports: list[int], users: list[str], clients: int, duration: float,
                     to_append: list[bytes], results: list[Result]) -> list[str]:
    """imap_mix's client_loop x *clients*: the first half on ports[0], the
    second on ports[1] (with one port, all there); client k uses account
    k mod users.  Fills results[i] for node i; returns the first errors."""
    errors: list[str] = []
    deadline = time.monotonic() + duration
    t0 = time.monotonic()

    def node_of(k: int) -> int:
        return k * len(ports) // clients

    await asyncio.gather(*(client_loop("127.0.0.1", ports[node_of(k)], users[k % len(users)], PASSWORD, k,
                                       deadline, to_append, results[node_of(k)], errors)
                           for k in range(clients)))
    seconds = time.monotonic() - t0
    for r in results:
        r.seconds = seconds
        r.error = "; ".join(dict.fromkeys(e for e in errors))[:500]
    return errors


@dataclasses.dataclass
class Phase:
    name: str
    nodes: list[Result]
    total: Result
    cpu: dict[str, float]
    wall: float


def merged(name: str, clients: int, parts: list[Result]) -> Result:
    out = Result(server=name, clients=clients)
    out.seconds = max(r.seconds for r in parts)
    for r in parts:
        out.ops += r.ops
        out.sessions += r.sessions
        out.errors += r.errors
        for op, xs in r.latencies.items():
            out.latencies.setdefault(op, []).extend(xs)
    out.error = parts[0].error
    return out


def run_phase(name: str, nodes: list, cluster, users: list[str], args, to_append: list[bytes]) -> Phase:
    ports = [n.imap_port for n in nodes]
    if args.warmup > 0:
        print(f"{name}: warm-up {args.warmup:g} s ...", file=sys.stderr, flush=True)
        asyncio.run(split_load(ports, users, args.clients, args.warmup, to_append,
                               [Result(server="warm-up", clients=args.clients) for _ in nodes]))
    os.sync()
    time.sleep(0.5)
    pg = postmaster_pid(cluster)
    results = [Result(server=f"{name}: node {chr(65 + i)}", clients=args.clients) for i in range(len(nodes))]
    print(f"{name}: K={args.clients}, {args.duration:g} s ...", file=sys.stderr, flush=True)
    before = {"hivemail": sum(n.cpu_seconds() for n in nodes),
              "postgresql": tree_cpu_seconds(pg) if pg else 0.0,
              "load generator": self_cpu_seconds(), "machine": machine_busy_seconds()}
    t0 = time.monotonic()
    asyncio.run(split_load(ports, users, args.clients, args.duration, to_append, results))
    wall = time.monotonic() - t0
    after = {"hivemail": sum(n.cpu_seconds() for n in nodes),
             "postgresql": tree_cpu_seconds(pg) if pg else 0.0,
             "load generator": self_cpu_seconds(), "machine": machine_busy_seconds()}
    cpu = {k: after[k] - before[k] for k in before}
    total = merged(name, args.clients, results)
    print(f"  {total.ops} ops, {total.ops_per_s:.1f} ops/s, p99 {_ms(total.p(0.99))} ms, {total.errors} failed "
          f"{total.error[:200]}; CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()),
          file=sys.stderr, flush=True)
    return Phase(name, results, total, cpu, wall)


# -- report ---------------------------------------------------------------------------


def factor(phases: list[Phase]) -> float | None:
    if len(phases) < 2 or not phases[0].total.ops_per_s or not phases[1].total.ops:
        return None
    return phases[1].total.ops_per_s / phases[0].total.ops_per_s


def report(phases: list[Phase], info: dict, setup: dict, args) -> tuple[str, list[dict]]:
    out = ["## Scaling over PostgreSQL: IMAP mix on one and two nodes (issue 9)", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- {k}: {v}" for k, v in setup.items()]
    cores = os.cpu_count() or 1
    out += [f"- {args.users} accounts x {args.messages} messages (bench/corpus.py); K = {args.clients} "
            f"clients running imap_mix.py's session loop, client k on account k mod {args.users}; "
            f"two nodes: clients 0..{args.clients // 2 - 1} on node A, the rest on node B; "
            f"{args.warmup:g} s unmeasured warm-up, then {args.duration:g} s per phase, fresh nodes "
            "per phase, each `serve --workers 1`",
            "- PostgreSQL: throwaway cluster (tests/support/postgres.py) with **fsync=off**, "
            "synchronous_commit=off, full_page_writes=off, shared_buffers=64MB: commits cost no "
            "disk flush, so this compares throughput, not durable-commit latency",
            f"- **{cores} cores shared** by the node(s), PostgreSQL and the load generator (and "
            "whatever else runs on the machine: see the load average and the \"other\" column): "
            "the factor measures contention for these cores, not what separate machines would give",
            ""]
    out.append(markdown_table(
        ["phase", "nodes", "ops", "sessions", "s", "ops/s", "p50 ms", "p99 ms", "p99 ms without LOGIN"],
        [[p.name, str(len(p.nodes)), f"{p.total.ops}" + (f" ({p.total.errors} failed)" if p.total.errors else ""),
          str(p.total.sessions), f"{p.total.seconds:.1f}", f"{p.total.ops_per_s:.1f}",
          _ms(p.total.p(0.5)), _ms(p.total.p(0.99)), _ms(p.total.p_without_login(0.99))] for p in phases]
        + [[r.server, "", str(r.ops), str(r.sessions), f"{r.seconds:.1f}", f"{r.ops_per_s:.1f}",
            _ms(r.p(0.5)), _ms(r.p(0.99)), _ms(r.p_without_login(0.99))]
           for p in phases if len(p.nodes) > 1 for r in p.nodes]))
    f = factor(phases)
    out += ["", "**Scaling factor** = ops/s(two nodes) / ops/s(one node) = "
                + (f"**{f:.2f}**" if f is not None else "— (not measured)"), ""]
    out += ["CPU seconds during each measured phase (wall time x cores = what the machine had):", ""]
    rows = []
    for p in phases:
        c = p.cpu
        other = c["machine"] - c["hivemail"] - c["postgresql"] - c["load generator"]
        ops = p.total.ops or 1
        rows.append([p.name, f"{p.wall:.1f} s x {cores} = {p.wall * cores:.1f}", f"{c['hivemail']:.1f}",
                     f"{c['postgresql']:.1f}", f"{c['load generator']:.1f}", f"{max(0.0, other):.1f}",
                     f"{c['machine']:.1f} ({100 * c['machine'] / (p.wall * cores):.0f} %)",
                     f"{1000 * c['hivemail'] / ops:.2f} / {1000 * c['postgresql'] / ops:.2f}"])
    out.append(markdown_table(["phase", "available", "hivemail node(s)", "PostgreSQL", "load generator",
                               "other (rest of machine)", "machine busy", "ms CPU per op: hivemail / PG"],
                              rows))
    out += ["", "p50 / p99 ms per command:", ""]
    out.append(markdown_table(["command"] + [p.name for p in phases],
                              [[op] + [f"{_ms(p.total.p(0.5, op))} / {_ms(p.total.p(0.99, op))}" for p in phases]
                               for op in OPS]))
    errs = [f"- {p.name}: {p.total.error}" for p in phases if p.total.error]
    if errs:
        out += ["", "Errors:"] + errs
    summary = []
    for p in phases:
        summary.append({"workload": f"Scaling (PostgreSQL), IMAP mix K={args.clients}",
                        "measure": f"ops/s, {p.name}", "better": "higher", "dovecot": None,
                        "hivemail": p.total.ops_per_s if p.total.ops else None, "target": None})
    summary.append({"workload": f"Scaling (PostgreSQL), IMAP mix K={args.clients}",
                    "measure": f"scaling factor 2 nodes / 1 node ({cores} shared cores)", "better": "higher",
                    "dovecot": None, "hivemail": f, "target": None})
    return "\n".join(out), summary


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 users x 50 messages, 1 s warm-up, 5 s per phase")
    parser.add_argument("--clients", type=int, default=20, help="K clients in each phase (default 20)")
    parser.add_argument("--duration", type=float, help="measured seconds per phase (default 20)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each phase (default 3)")
    parser.add_argument("--users", type=int, help="accounts (default 10)")
    parser.add_argument("--messages", type=int, help="messages per INBOX (default 500)")
    add_server_options(parser)
    args = parser.parse_args(argv)
    if external(args):
        parser.error("--host/--port: this workload starts its own PostgreSQL and nodes")
    if args.only == "dovecot":
        print("## Scaling over PostgreSQL (issue 9)\n\nhivemail only: nothing to measure with --only dovecot.")
        write_json(args.json, {"benchmark": "scaling", "summary": []})
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.clients < 2:
        parser.error("--clients must be at least 2 (half on each node)")
    args.duration = args.duration or (5.0 if args.quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    args.users = args.users or (3 if args.quick else 10)
    args.messages = args.messages or (50 if args.quick else 500)

    from tests.support.postgres import Cluster

    info = machine_info(args.workdir)
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    users = [f"mix{i}@example.test" for i in range(args.users)]
    boxes = [(u, Corpus(args.messages, seed=5000 + i, to=u)) for i, u in enumerate(users)]
    to_append = append_corpus(args.users, args.messages)
    phases: list[Phase] = []
    setup: dict[str, str] = {}
    nodes: list = []
    cluster = None
    pg_pid = None
    code = 0
    try:
        print("starting PostgreSQL ...", file=sys.stderr, flush=True)
        cluster = Cluster()
        pg_pid = postmaster_pid(cluster)
        setup["PostgreSQL"] = pg_version(cluster)
        url = cluster.create_database("bench_scaling")
        print(f"populating {args.users} x {args.messages} ...", file=sys.stderr, flush=True)
        steps = populate(args, url, users, boxes)
        setup["population"] = ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
        print(f"  {setup['population']}", file=sys.stderr, flush=True)
        for name, count in (("one node", 1), ("two nodes", 2)):
            nodes = [start_node(args, url) for _ in range(count)]
            try:
                phases.append(run_phase(name, nodes, cluster, users, args, to_append))
            finally:
                for n in nodes:
                    n.stop()
                nodes = []
    except Exception as exc:  # noqa: BLE001 - reported, and whatever was measured is still printed
        print(f"scaling: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        setup["NOT COMPLETED"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        code = 1
    finally:
        for n in nodes:
            n.stop()
        if cluster is not None:
            cluster.stop()
        if pg_pid:
            # pg_ctl stop signals this pid; make sure it is gone.
            for _ in range(100):
                try:
                    os.kill(pg_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pg_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    info["load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    text, summary = report(phases, info, setup, args)
    print(text)
    write_json(args.json, {
        "benchmark": "scaling", "machine": info, "setup": setup, "summary": summary,
        "versions": {"postgresql": setup.get("PostgreSQL", "")},
        "scaling_factor": factor(phases),
        "phases": [{"name": p.name, "nodes": len(p.nodes), "ops": p.total.ops, "sessions": p.total.sessions,
                    "seconds": p.total.seconds, "ops_per_s": p.total.ops_per_s, "errors": p.total.errors,
                    "error": p.total.error, "p50": p.total.p(0.5), "p99": p.total.p(0.99),
                    "p99_without_login": p.total.p_without_login(0.99), "cpu_seconds": p.cpu, "wall": p.wall,
                    "per_node_ops_per_s": [r.ops_per_s for r in p.nodes],
                    "per_command": {op: {"n": len(xs), "p50": pct(xs, 0.5), "p99": pct(xs, 0.99)}
                                    for op, xs in p.total.latencies.items()}} for p in phases]})
    return code if len(phases) == 2 and all(p.total.ops for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
