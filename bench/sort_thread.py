#!/usr/bin/env python3
"""SORT and THREAD on a large mailbox, Dovecot and hivemail side by side.

The mailbox is bench/imap.py's: ``--messages`` (100,000; 10,000 with
``--quick``) messages of ``bench/corpus.py`` (threads with References /
In-Reply-To, Re:/Fwd: subjects, RFC 2047 names), loaded by
``bench/populate.py`` (the same ``--cache`` keys, so a tree populated for
imap.py is reused). Measured per server, with imap.py's raw-socket client:

* ``SORT (DATE) UTF-8 ALL``, ``SORT (SUBJECT) UTF-8 ALL`` and
  ``THREAD REFERENCES UTF-8 ALL``: the first one after SELECT (hivemail
  reads the keys stored at delivery into its worker's cache; Dovecot
  builds or reads its sort and thread indexes) and the median of
  ``--repeats`` warm ones; the number of threads in each server's THREAD
  answer is reported as a check (the two servers number the messages in
  different orders, so their answers are not compared number by number).

Issue 7 targets for hivemail: SORT <= 200 ms and THREAD <= 500 ms on
100,000 messages (warm). This is a benchmark: it exits 0 when at least one
server was measured.

    bench/sort_thread.py [--quick] [--messages N] [--only dovecot|hivemail] [--repeats N] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, markdown_table  # noqa: E402
from bench.corpus import Corpus  # noqa: E402
from bench.harness import add_server_options, make_server, server_names, write_json  # noqa: E402
from bench.imap import PASSWORD, USER, ImapError, login  # noqa: E402
from bench.populate import cached, populate_dovecot, populate_hivemail  # noqa: E402
from bench.servers import ServerError  # noqa: E402

COMMANDS = {
    "SORT (DATE)": "SORT (DATE) UTF-8 ALL",
    "SORT (SUBJECT)": "SORT (SUBJECT) UTF-8 ALL",
    "THREAD=REFERENCES": "THREAD REFERENCES UTF-8 ALL",
}
TARGETS_MS = {"SORT (DATE)": 200, "SORT (SUBJECT)": 200, "THREAD=REFERENCES": 500}


def measure(port: int, repeats: int) -> dict:
    c = login(port)
    out: dict = {"first": {}, "warm": {}, "answers": {}}
    try:
        data, _ = c.ok("SELECT INBOX", keep=True)
        m = re.search(rb"^\* (\d+) EXISTS", data, re.M)
        out["exists"] = int(m.group(1)) if m else -1
        for r in range(repeats + 1):
            for label, command in COMMANDS.items():
                t0 = time.perf_counter()
                data, _ = c.ok(command, keep=(r == 0))
                dt = time.perf_counter() - t0
                if r == 0:
                    out["first"][label] = dt
                    out["answers"][label] = data
                else:
                    out["warm"].setdefault(label, []).append(dt)
            print(f"  round {r}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" if r else
                                              f"{k} {out['first'][k] * 1000:.0f} ms"
                                              for k, v in (out["warm"] if r else out["first"]).items()),
                  file=sys.stderr, flush=True)
    finally:
        c.close()
    return out


def _thread_count(data: bytes) -> int:
    m = re.search(rb"^\* THREAD ?(.*)\r$", data, re.M)
    if not m:
        return -1
    depth = count = 0
    for ch in m.group(1):
        if ch == ord("("):
            if depth == 0:
                count += 1
            depth += 1
        elif ch == ord(")"):
            depth -= 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 messages, 3 repeats")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--attachment-rate", type=float, default=0.01)
    parser.add_argument("--load-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", metavar="DIR")
    add_server_options(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.messages = args.messages or (10_000 if args.quick else 100_000)
    args.repeats = args.repeats or (3 if args.quick else 5)
    cache = Path(args.cache).resolve() if args.cache else None
    corpus = Corpus(args.messages, seed=4242, to=USER, attachment_rate=args.attachment_rate)
    info = machine_info(args.workdir)
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    results: dict[str, dict] = {}
    unavailable: dict[str, str] = {}
    created = []
    try:
        for name in server_names(args):
            server = make_server(name, args, protocols=("lmtp", "imap"))
            created.append(server)
            try:
                server.add_user(USER, PASSWORD)
                if name == "dovecot":
                    tree, key = server.home(USER), f"dovecot-{args.dovecot_format}-{corpus.key()}"

                    def fill(server=server):
                        populate_dovecot(server, [(USER, corpus)])
                        return "maildir + doveadm import"
                else:
                    tree, key = server.data_dir, f"hivemail-{corpus.key()}"

                    def fill(server=server):
                        populate_hivemail(server, [(USER, corpus)], args.load_jobs)
                        return "EmbeddedStore.deliver in-process"
                print(f"{name}: populating {args.messages} messages ...", file=sys.stderr, flush=True)
                if name == "dovecot" and cache is not None and server.process is None:
                    server.start()
                seconds, how = cached(cache, key, tree, fill)
                print(f"{name}: populated in {seconds:.1f} s ({how})", file=sys.stderr, flush=True)
                if server.process is None:
                    server.start()
                os.sync()
                print(f"{name}: measuring ...", file=sys.stderr, flush=True)
                results[name] = measure(server.imap_port, args.repeats)
                results[name]["version"] = server.describe()
            except (ServerError, RuntimeError, OSError, subprocess.SubprocessError, ImapError) as exc:
                unavailable[name] = str(exc)[:300] or repr(exc)
                print(f"{name} not measured: {exc}", file=sys.stderr, flush=True)
            finally:
                server.stop()
    finally:
        for server in created:
            server.stop()
    info["load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    rows = []
    for label in COMMANDS:
        row = [label]
        meds = {}
        for name in ("dovecot", "hivemail"):
            r = results.get(name)
            if r is None:
                row += ["-", "-"]
                continue
            meds[name] = statistics.median(r["warm"][label]) if r["warm"].get(label) else None
            row += [f"{r['first'][label] * 1000:.0f}", f"{meds[name] * 1000:.0f}" if meds[name] else "-"]
        ratio = (meds["hivemail"] / meds["dovecot"]) if meds.get("hivemail") and meds.get("dovecot") else None
        row.append(f"{ratio:.2f}" if ratio else "-")
        h = meds.get("hivemail")
        row.append("-" if h is None else ("met" if h * 1000 <= TARGETS_MS[label] else "missed"))
        rows.append(row)
    print(f"# SORT / THREAD on a {args.messages:,}-message mailbox\n")
    for k, v in info.items():
        print(f"- {k}: {v}")
    for name, r in results.items():
        print(f"- {name}: {r['version']}, {r['exists']} messages; THREAD REFERENCES threads: "
              f"{_thread_count(r['answers']['THREAD=REFERENCES'])}")
    for name, why in unavailable.items():
        print(f"- {name}: not measured: {why}")
    print()
    print(markdown_table(["command", "Dovecot first ms", "Dovecot warm ms", "hivemail first ms",
                          "hivemail warm ms", "ratio (warm)", "target"], rows))
    summary = [{"workload": f"SORT/THREAD ({args.messages:,})", "measure": f"{label} ms (warm)",
                "better": "lower", "target": None,
                **{n: (statistics.median(r["warm"][label]) * 1000 if r["warm"].get(label) else None)
                   for n, r in results.items()}}
               for label in COMMANDS]
    write_json(args.json, {"benchmark": "sort_thread", "machine": info, "unavailable": unavailable,
                           "summary": summary,
                           "results": {n: {"first": r["first"], "warm": r["warm"], "exists": r["exists"]}
                                       for n, r in results.items()}})
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
