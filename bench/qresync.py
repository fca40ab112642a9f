#!/usr/bin/env python3
"""A phone reconnecting: QRESYNC (RFC 7162) against a full resync,
Dovecot and hivemail side by side.

One INBOX of ``--messages`` messages (10,000 by default) from
bench/corpus.py, populated as bench/imap.py does. Per server:

1. a client caches the mailbox: ``ENABLE QRESYNC``, ``SELECT INBOX``
   (UIDVALIDITY, HIGHESTMODSEQ), ``UID FETCH 1:* (FLAGS)``, logs out;
2. another device changes ``--changes`` flags (100 by default: one
   ``UID STORE`` each, on random messages);
3. the first client reconnects with ``SELECT INBOX (QRESYNC (uidvalidity
   modseq))`` and is told exactly what changed.

Reported: bytes the server sent for the reconnect (LOGIN,
ENABLE and SELECT ... QRESYNC) and the time of the SELECT, against the
same for a client without QRESYNC (SELECT, then ``UID FETCH 1:* (FLAGS)``),
and the FETCH lines the reconnect carried (must equal the messages
changed). LOGIN is left out of the times: it measures password hashing.

    bench/qresync.py [--messages N] [--changes N] [--repeats N] [--only dovecot|hivemail] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, markdown_table  # noqa: E402
from bench.corpus import Corpus  # noqa: E402
from bench.harness import add_server_options, make_server, server_names, write_json  # noqa: E402
from bench.imap import USER, PASSWORD, RawImap  # noqa: E402
from bench.populate import populate_dovecot, populate_hivemail  # noqa: E402


def _login(port: int) -> tuple[RawImap, int]:
    c = RawImap(port)
    _, n = c.ok(f'LOGIN "{USER}" "{PASSWORD}"')
    return c, n


def _code(data: bytes, name: bytes) -> int:
    m = re.search(rb"\[" + name + rb" (\d+)\]", data)
    if not m:
        raise RuntimeError(f"no {name.decode()} in {data[:300]!r}")
    return int(m.group(1))


def measure(port: int, changes: int, repeats: int, rng: random.Random) -> dict:
    c, _ = _login(port)
    c.ok("ENABLE QRESYNC")
    data, _ = c.ok("SELECT INBOX", keep=True)
    uidvalidity, modseq = _code(data, b"UIDVALIDITY"), _code(data, b"HIGHESTMODSEQ")
    data, _ = c.ok("UID FETCH 1:* (FLAGS)", keep=True)
    uids = [int(u) for u in re.findall(rb"UID (\d+)", data)]
    c.close()
    out: dict = {"messages": len(uids), "qresync_s": [], "qresync_bytes": [], "full_s": [], "full_bytes": [],
                 "fetch_lines": []}
    for r in range(repeats):
        other, _ = _login(port)
        other.ok("SELECT INBOX")
        picked = rng.sample(uids, min(changes, len(uids)))
        for uid in picked:
            # A keyword new to each round: every STORE is a change.
            other.ok(f"UID STORE {uid} +FLAGS.SILENT ($Bench{r})")
        other.close()
        # The reconnect with QRESYNC.
        c, n_login = _login(port)
        _, n_enable = c.ok("ENABLE QRESYNC")
        t0 = time.perf_counter()
        data, n_select = c.ok(f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq}))", keep=True)
        out["qresync_s"].append(time.perf_counter() - t0)
        out["qresync_bytes"].append(n_login + n_enable + n_select)
        out["fetch_lines"].append(len(re.findall(rb"^\* \d+ FETCH ", data, re.M)))
        modseq = _code(data, b"HIGHESTMODSEQ")
        c.close()
        # The same reconnect without it: every flag again.
        c, n_login = _login(port)
        t0 = time.perf_counter()
        _, n_select = c.ok("SELECT INBOX")
        _, n_fetch = c.ok("UID FETCH 1:* (FLAGS)")
        out["full_s"].append(time.perf_counter() - t0)
        out["full_bytes"].append(n_login + n_select + n_fetch)
        c.close()
        out.setdefault("changed", []).append(len(picked))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 messages, 1 repeat")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--load-jobs", type=int, default=2)
    add_server_options(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.messages, args.repeats = min(args.messages, 2_000), 1
    corpus = Corpus(args.messages, seed=4242, to=USER, attachment_rate=0.0)
    info = machine_info(args.workdir)
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    results: dict[str, dict] = {}
    for name in server_names(args):
        server = make_server(name, args, protocols=("lmtp", "imap"))
        try:
            server.add_user(USER, PASSWORD)
            if name == "dovecot":
                server.start()  # doveadm import needs the auth service
                populate_dovecot(server, [(USER, corpus)])
            else:
                populate_hivemail(server, [(USER, corpus)], args.load_jobs)
                server.start()
            results[name] = measure(server.imap_port, args.changes, args.repeats, random.Random(7))
        except Exception as exc:  # a benchmark reports what it could measure
            results[name] = {"error": str(exc)[:300]}
        finally:
            server.stop()
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, "error: " + r["error"], "", "", "", ""])
            continue
        rows.append([
            name,
            f"{statistics.median(r['qresync_bytes']):,.0f}",
            f"{statistics.median(r['qresync_s']) * 1000:.1f}",
            f"{statistics.median(r['full_bytes']):,.0f}",
            f"{statistics.median(r['full_s']) * 1000:.1f}",
            f"{statistics.median(r['fetch_lines']):.0f} / {statistics.median(r['changed']):.0f}",
        ])
    print(f"QRESYNC reconnect after {args.changes} flag changes, {args.messages:,} messages "
          f"(median of {args.repeats})")
    print(markdown_table(["server", "QRESYNC bytes", "QRESYNC ms", "full resync bytes", "full resync ms",
                          "FETCH lines / changed"], rows))
    ok = {n: r for n, r in results.items() if "error" not in r}
    wl = f"QRESYNC reconnect ({args.messages:,}, {args.changes} changes)"
    summary = [
        {"workload": wl, "measure": "bytes sent for the reconnect", "better": "lower", "target": None,
         **{n: statistics.median(r["qresync_bytes"]) for n, r in ok.items()}},
        {"workload": wl, "measure": "SELECT (QRESYNC) ms", "better": "lower", "target": None,
         **{n: statistics.median(r["qresync_s"]) * 1000 for n, r in ok.items()}},
    ]
    write_json(args.json, {"benchmark": "qresync", "machine": info, "results": results, "summary": summary,
                           "options": vars(args) | {"json": None}})
    return 0 if any("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
