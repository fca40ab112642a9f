#!/usr/bin/env python3
"""Run every benchmark in turn and print their Markdown reports.

    bench/run_all.py [--quick] [--only dovecot|hivemail] [--json-dir DIR]

Options are passed on to each benchmark.  Exits non-zero if any benchmark
measured no server at all.  ``make bench`` calls this.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Each is a script in bench/ taking --quick, --only and --json.
BENCHMARKS = ("delivery.py", "pop3.py", "imap.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("dovecot", "hivemail"))
    parser.add_argument("--json-dir", metavar="DIR", help="write <benchmark>.json files here")
    args = parser.parse_args(argv)

    failed = []
    for script in BENCHMARKS:
        cmd = [sys.executable, str(HERE / script)]
        if args.quick:
            cmd.append("--quick")
        if args.only:
            cmd += ["--only", args.only]
        if args.json_dir:
            Path(args.json_dir).mkdir(parents=True, exist_ok=True)
            cmd += ["--json", str(Path(args.json_dir) / (Path(script).stem + ".json"))]
        print(f"# {script}", flush=True)
        # Each benchmark bounds its own time; this is a backstop.
        proc = subprocess.Popen(cmd)
        try:
            code = proc.wait(timeout=1800)
        except subprocess.TimeoutExpired:
            # SIGTERM: the benchmark stops its servers on the way out.
            proc.terminate()
            code = proc.wait()
            code = code or -1
        if code != 0:
            failed.append(script)
        print(flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
