"""Time-boxed fuzzing of the protocol cores: ``python -m tests.fuzz`` (``make fuzz``).

    python -m tests.fuzz [--seconds N] [--engine auto|atheris|hypothesis]
                         [--targets imap-bytes,mime,...] [--corpus DIR]
    python -m tests.fuzz --replay CRASH_FILE --target NAME   # re-run one input

``--seconds`` (default ``$FUZZ_SECONDS`` or 60) is split evenly over the
targets.  ``atheris`` (coverage-guided libFuzzer; ``auto`` picks it when it
is importable) runs each target in a child process with ``-timeout`` (per
input, no hang) and ``-rss_limit_mb``; crash inputs are written to
``--artifacts`` (default ``.hypothesis/fuzz-artifacts/``, git-ignored) and replay without atheris.
``hypothesis`` runs batches of random examples until the time is up.
Either way every example also runs under ``bounds.bounded``'s tracemalloc
bound.  The last line is the summary, e.g.::

    fuzz: engine=atheris targets=6 examples=812345 failures=0 seconds=300

and the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DONE = re.compile(r"Done (\d+) runs in")
STAT = re.compile(r"#(\d+)\s")


def _atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


def run_hypothesis(name: str, seconds: float) -> tuple[int, int]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from .sources import HypothesisSource
    from .targets import TARGETS, run

    target = TARGETS[name]
    count = [0]

    @settings(max_examples=100, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data: st.DataObject) -> None:
        count[0] += 1
        run(target, HypothesisSource(data))

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            one()
        except Exception as exc:  # a falsifying example: Hypothesis printed it
            print(f"fuzz: {name}: FAILED: {type(exc).__name__}: {exc}"[:2000], file=sys.stderr)
            return count[0], 1
    return count[0], 0


def run_atheris(name: str, seconds: float, corpus: Path, artifacts: Path, per_input: int) -> tuple[int, int]:
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "tests.fuzz.atheris_worker", name,
           f"-max_total_time={max(1, int(seconds))}", f"-timeout={per_input}", "-rss_limit_mb=2048",
           "-max_len=4096", f"-artifact_prefix={artifacts}/{name}-", "-print_final_stats=1", str(corpus)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, errors="replace")
    log = proc.stderr
    m = DONE.search(log)
    runs = int(m.group(1)) if m else max((int(x) for x in STAT.findall(log)), default=0)
    if proc.returncode != 0:
        tail = "\n".join(log.splitlines()[-40:])
        print(f"fuzz: {name}: FAILED (exit {proc.returncode}); crash inputs in {artifacts}\n{tail}", file=sys.stderr)
        return runs, 1
    return runs, 0


def replay(path: Path, name: str) -> int:
    from .sources import BytesSource
    from .targets import TARGETS, run

    target = TARGETS[name]
    data = path.read_bytes()
    print("case:", repr(target.generate(BytesSource(data)))[:4000])
    run(target, BytesSource(data))
    print("passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .targets import TARGETS

    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "60")))
    p.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default=os.environ.get("FUZZ_ENGINE", "auto"))
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated; default all: " + ",".join(TARGETS))
    p.add_argument("--corpus", type=Path, default=None, help="atheris corpus root (default: a temp dir)")
    p.add_argument("--artifacts", type=Path, default=ROOT / ".hypothesis" / "fuzz-artifacts")
    p.add_argument("--per-input-timeout", type=int, default=10, help="atheris -timeout, seconds")
    p.add_argument("--replay", type=Path)
    p.add_argument("--target")
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.target or p.error("--replay needs --target"))
    names = [n for n in args.targets.split(",") if n]
    unknown = set(names) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if _atheris_available() else "hypothesis"
    share = args.seconds / len(names)
    total = failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hivemail-fuzz-") as tmp:
        corpus_root = args.corpus or Path(tmp)
        for name in names:
            if engine == "atheris":
                runs, failed = run_atheris(name, share, corpus_root / name, args.artifacts, args.per_input_timeout)
            else:
                runs, failed = run_hypothesis(name, share)
            print(f"fuzz: {name}: {runs} examples, {'FAILED' if failed else 'ok'}", file=sys.stderr)
            total += runs
            failures += failed
    print(f"fuzz: engine={engine} targets={len(names)} examples={total} failures={failures} "
          f"seconds={time.monotonic() - started:.0f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
