#!/usr/bin/env python3
"""Run every workload against Dovecot and hivemail and print ONE table.

    bench/run_all.py [--quick] [--only dovecot|hivemail] [--json-dir DIR]
                     [--dovecot-format sdbox|mdbox|maildir] [--dovecot-fsync optimized|always]
                     [--results FILE | --no-results] [--workdir DIR]

Runs, in turn (each script starts its own private Dovecot and hivemail,
fills both with the same ``bench/corpus.py`` messages, measures them one
after the other and stops them):

1. ``delivery.py``   LMTP, 10 KiB and 1 MiB messages, 1 and 4 connections
2. ``pop3.py``       POP3 download, 1 and 10 clients
3. ``imap_mix.py``   IMAP mixed load, K = 10 and K = 50 clients
4. ``imap.py``       big mailbox (100,000 messages): SELECT, FETCH 1:*, SEARCH
                     BODY/SUBJECT (its own 10-client mixed load is skipped:
                     imap_mix.py covers concurrency)
5. ``idle_crowd.py`` 5,000 IDLE connections: memory per connection, wake-up time
6. ``sort_thread.py``, ``qresync.py`` (issue 7)
7. ``scaling.py``    hivemail only (issue 9): the IMAP mix (K = 20) against one and
                     two nodes sharing a throwaway PostgreSQL; its rows have no
                     Dovecot figure and no target (ops/s per phase, scaling factor)

Each script gets a time budget (a backstop: each bounds its own loops) and
writes JSON; this script collects every script's ``summary`` rows and prints
one table: workload, measure, Dovecot, hivemail, hivemail/Dovecot, target,
met/missed.  A full run (not ``--quick``) also writes the table, the machine
facts and every script's report as a dated section at the top of
``bench/RESULTS.md``, moving the previous one under "Earlier runs".
``make bench`` calls this.  Exits non-zero if a workload measured nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.common import machine_info, markdown_table  # noqa: E402

# (script, extra arguments for a full run, extra for --quick, time budget s full / quick)
WORKLOADS = (
    ("delivery.py", [], [], 240, 120),
    ("pop3.py", [], [], 240, 120),
    ("imap_mix.py", [], [], 330, 150),
    ("imap.py", ["--clients", "0"], ["--clients", "0"], 660, 240),
    ("idle_crowd.py", [], [], 420, 180),
    ("sort_thread.py", [], [], 600, 240),
    ("qresync.py", [], [], 240, 120),
    ("scaling.py", [], [], 300, 150),
)
RESULTS_MD = HERE / "RESULTS.md"
LATEST = "<!-- bench:latest-run -->"
EARLIER = "<!-- bench:earlier-runs -->"


def verdict(row: dict) -> tuple[str, str]:
    """(ratio text, met/missed text) for a summary row."""
    d, h, target = row.get("dovecot"), row.get("hivemail"), row.get("target")
    if d is None or h is None or not d:
        return "—", "not measured" if target is not None else "—"
    ratio = h / d
    if target is None:
        return f"{ratio:.2f}", "(no target)"
    if row["better"] == "higher":
        ok, rule = ratio >= target, f"≥ {target:g}"
    else:
        ok, rule = ratio <= target, f"≤ {target:g}"
    return f"{ratio:.2f}", f"{'met' if ok else 'MISSED'} ({rule})"


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def one_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        ratio, met = verdict(r)
        better = "higher is better" if r["better"] == "higher" else "lower is better"
        body.append([r["workload"], f"{r['measure']} ({better})", _num(r.get("dovecot")),
                     _num(r.get("hivemail")), ratio, met])
    return markdown_table(["workload", "measure", "Dovecot", "hivemail", "hivemail/Dovecot",
                           "target"], body)


def git_describe() -> str:
    try:
        head = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def write_results(path: Path, section: str) -> None:
    """Put *section* at the top of *path*'s runs; the previous latest run
    goes first under "Earlier runs"."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if LATEST in text and EARLIER in text:
        intro, rest = text.split(LATEST, 1)
        previous, earlier = rest.split(EARLIER, 1)
        earlier = earlier.lstrip("\n")
        # The previous run goes first among the earlier ones: before the
        # first "## " heading (after the "# Earlier runs" paragraph).
        cut = earlier.find("\n## ")
        if cut < 0:
            earlier = earlier.rstrip("\n") + "\n\n" + previous.strip() + "\n"
        else:
            earlier = earlier[:cut + 1] + previous.strip() + "\n\n" + earlier[cut + 1:]
    else:
        # First run with this layout: everything from the first "## " is older.
        cut = text.find("\n## ")
        intro, old = (text, "") if cut < 0 else (text[:cut + 1], text[cut + 1:])
        earlier = old
    earlier_block = (
        "# Earlier runs\n\n"
        "Older figures, kept for reference. Each was measured with the harness and the "
        "hivemail code of its day (runs before issue 5 ran Dovecot on maildir with "
        "`mail_fsync = always`). Compare figures only within one run.\n\n") if not earlier.startswith("# Earlier runs") else ""
    out = (intro.rstrip("\n") + "\n\n" + LATEST + "\n" + section.strip() + "\n\n" + EARLIER + "\n"
           + earlier_block + earlier.strip() + "\n")
    path.write_text(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, short cases")
    parser.add_argument("--only", choices=("dovecot", "hivemail"))
    parser.add_argument("--workloads", help="comma-separated subset, e.g. imap_mix,idle_crowd")
    parser.add_argument("--json-dir", metavar="DIR", help="keep each workload's JSON here")
    parser.add_argument("--dovecot-format", choices=("sdbox", "mdbox", "maildir"), default="sdbox",
                        help="Dovecot storage (default sdbox, its recommended format)")
    parser.add_argument("--dovecot-fsync", choices=("optimized", "always", "never"),
                        default="optimized",
                        help="Dovecot mail_fsync (default optimized as shipped; 'always' was "
                             "the earlier harness setting)")
    parser.add_argument("--workdir", help="parent of the servers' temporary directories")
    parser.add_argument("--results", metavar="FILE",
                        help=f"write the dated section here (default {RESULTS_MD} on full runs)")
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--total-budget", type=float,
                        help="seconds for the whole run (default 1170 = 19.5 min; 600 with "
                             "--quick): a workload gets at most what is left")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    deadline = started + (args.total_budget or (600.0 if args.quick else 1170.0))
    scratch = None if args.json_dir else tempfile.TemporaryDirectory(prefix="hmb-json-")
    json_dir = Path(args.json_dir or scratch.name)
    json_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(args.workloads.split(",")) if args.workloads else None

    info = machine_info(args.workdir)
    info["memory"] = memory_gib()
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    info["hivemail code"] = git_describe()
    info["OS"] = platform.platform()

    rows: list[dict] = []
    reports: list[str] = []
    failed: list[str] = []
    timings: dict[str, float] = {}
    versions: dict[str, str] = {}
    for script, full_extra, quick_extra, budget_full, budget_quick in WORKLOADS:
        stem = Path(script).stem
        if wanted and stem not in wanted:
            continue
        out_json = json_dir / f"{stem}.json"
        cmd = [sys.executable, str(HERE / script), "--json", str(out_json),
               "--dovecot-format", args.dovecot_format, "--dovecot-fsync", args.dovecot_fsync]
        cmd += quick_extra if args.quick else full_extra
        if args.quick:
            cmd.append("--quick")
        if args.only:
            cmd += ["--only", args.only]
        if args.workdir:
            cmd += ["--workdir", args.workdir]
        budget = min(budget_quick if args.quick else budget_full, deadline - time.monotonic())
        if budget < 30:
            print(f"# {script}: skipped, the run's total budget is spent", flush=True)
            failed.append(script)
            continue
        budget = int(budget)
        print(f"# {script} (budget {budget} s)", flush=True)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            stdout, _ = proc.communicate(timeout=budget)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            # SIGTERM: the script stops its servers on the way out.
            proc.terminate()
            try:
                stdout, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, _ = proc.communicate()
            code = -1
            print(f"{script}: over its {budget} s budget, stopped", file=sys.stderr, flush=True)
        timings[stem] = time.monotonic() - t0
        print(stdout, flush=True)
        reports.append(stdout.strip())
        if code != 0:
            failed.append(script)
        try:
            data = json.loads(out_json.read_text())
        except (OSError, ValueError):
            data = {}
        rows += data.get("summary", [])
        for k, v in data.get("versions", {}).items():
            versions.setdefault(k.lower(), v)

    total = time.monotonic() - started
    table = one_table(rows)
    facts = dict(info)
    for k, v in versions.items():
        facts[{"dovecot": "Dovecot", "hivemail": "hivemail server"}.get(k, k)] = v.split("; population")[0]
    facts["runtime"] = (f"{total / 60:.1f} min (" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
                        + ")")
    header = "## Summary: hivemail against Dovecot"
    print(header + "\n")
    print("\n".join(f"- {k}: {v}" for k, v in facts.items()))
    print()
    print(table, flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)

    target = Path(args.results) if args.results else (None if args.quick else RESULTS_MD)
    if target is not None and not args.no_results:
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section = "\n".join([
            f"## Run of {info['date']} (finished {date}){' (--quick)' if args.quick else ''}: "
            "`make bench`",
            "",
            "Ratios are hivemail/Dovecot; the target column says whether hivemail meets the "
            "issue 5 target for that figure.  Dovecot: "
            f"{args.dovecot_format}, `mail_fsync = {args.dovecot_fsync}` (its recommended format "
            "and its shipped fsync setting).",
            "",
            "| field | value |", "| --- | --- |",
            *[f"| {k} | {v} |" for k, v in facts.items()],
            "",
            table,
            "",
            "<details><summary>Every workload's report</summary>",
            "",
            *[r.replace("\n## ", "\n### ").replace("## ", "### ", 1) + "\n" for r in reports],
            "</details>",
        ])
        write_results(target, section)
        print(f"\nwrote {target}", file=sys.stderr)
    if scratch is not None:
        scratch.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
