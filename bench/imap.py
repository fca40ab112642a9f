#!/usr/bin/env python3
"""IMAP on a large mailbox, Dovecot and hivemail side by side.

One account per server holds one INBOX of ``--messages`` messages (100,000
by default; 10,000 with ``--quick``) from ``bench/corpus.py``: the same
messages for both, realistic headers, threads, 15 % multipart/alternative,
``--attachment-rate`` (1 %) with base64 attachments up to 1 MiB, 30 %
unseen, 8 % \\Flagged, internal dates over a year, and a rare word in 5
messages.

The mailboxes are populated without the servers' delivery path (LMTP at a
few hundred messages/s would take minutes and is measured by delivery.py),
by ``bench/populate.py``:

* Dovecot: a maildir is written (LF line endings, ``S=``/``W=`` names,
  mtime = internal date), then ``doveadm import`` copies it into the
  configured format (sdbox by default; ``mail_fsync = never`` for the load
  only).  With ``--dovecot-format maildir`` the files written *are* the
  mailbox and Dovecot's first SELECT indexes them.
* hivemail: ``hivemail user add``, then in this process before the server
  starts ``EmbeddedStore(data, fsync=False).deliver(...)`` with many
  deliveries in flight (group commit), analysis by ``hivemail.mime.analyse``
  in worker processes; the store is closed and the server opens it
  normally (fsync on).  Skipping fsync only speeds up the load; the data
  files are the same.

Measured per server, with a raw-socket client (send the command, read in
1 MiB chunks and only scan for the tagged reply; no parsing):

* ``SELECT INBOX``: the first one after population (Dovecot: builds its
  index) and the median of ``--repeats`` warm ones;
* ``FETCH 1:* (UID FLAGS)`` and ``UID SEARCH UNSEEN``: first and median;
  the untagged FETCH lines and SEARCH hits are counted to check the answer,
  and the bytes the server read (``rchar`` of its process tree from
  /proc/PID/io) during the FETCH are reported: reading the message files
  would show as hundreds of MiB;
* ``UID SEARCH BODY`` and ``TEXT`` of a rare word (5 hits; without a
  full-text index this reads every message) and of a common one, and
  ``UID SEARCH SUBJECT <common word>``: first and median of
  ``--search-repeats`` warm ones;
* a mixed load (``--clients 0`` skips it; run_all.py does, imap_mix.py
  measures concurrency): ``--clients`` concurrent sessions (threads), each logged in
  once, then looping for ``--duration`` seconds over SELECT INBOX, FETCH a
  random range of 50 (UID FLAGS ENVELOPE), FETCH one BODY.PEEK[], STORE
  +FLAGS (\\Seen) on one, UID SEARCH UNSEEN, NOOP.  Every command is one
  operation; ops/s, per-command median and p95 latency, server CPU per
  operation, and the PSS of the server's process tree after the load.

Phases are interleaved (phase 1 on Dovecot, then on hivemail, phase 2 ...)
with an ``os.sync()`` before each.  The client runs on the same machine.

This is a benchmark, not a test: it exits 0 when at least one server was
measured.  If hivemail cannot start or its FETCH/SEARCH are refused, that is
printed and the Dovecot figures are still reported.

    bench/imap.py [--quick] [--messages N] [--only dovecot|hivemail] [--json FILE]
                  [--clients 10] [--duration S] [--repeats N] [--cache DIR]
                  [--host H --port P --user U --password PW]   # an already running server

``--cache DIR`` keeps each freshly populated mail tree (Dovecot's home,
hivemail's data directory) under DIR, keyed by server, format and corpus
parameters, and later runs copy it (``cp -a``) instead of populating.
Delete DIR when hivemail's store format changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, markdown_table  # noqa: E402
from bench.corpus import RARE_WORD, SUBJECT_WORD, Corpus  # noqa: E402
from bench.harness import add_server_options, external, make_server, server_names, write_json  # noqa: E402
from bench.populate import cached, populate_dovecot, populate_hivemail  # noqa: E402
from bench.servers import ServerError, process_tree  # noqa: E402

MIB = 1024 * 1024
USER = "big@example.test"
PASSWORD = "bench-password"
COMMAND_TIMEOUT = 300.0  # one command on a 100k mailbox; a hung server fails the phase

# --------------------------------------------------------------------------
# Messages and population: bench/corpus.py and bench/populate.py


# --------------------------------------------------------------------------
# Raw IMAP client


class ImapError(RuntimeError):
    pass


class RawImap:
    """A minimal IMAP client: one command at a time, the reply read in large
    chunks and scanned only for the tagged line.  Literals are not parsed;
    the benchmark's messages never contain a line starting with a tag."""

    def __init__(self, port: int, timeout: float = COMMAND_TIMEOUT, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.n = 0
        self.pending = b""
        greeting = self._read_line()
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {greeting[:200]!r}")

    def _read_line(self) -> bytes:
        buf = self.pending
        while b"\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ImapError("connection closed")
            buf += chunk
        line, _, self.pending = buf.partition(b"\r\n")
        return line

    def command(self, text: str | bytes, keep: bool = False) -> tuple[str, bytes, int]:
        """Send one command, wait for its tagged reply.  Returns (status line
        after the tag, whole reply if *keep* else b"", reply bytes)."""
        self.n += 1
        tag = b"c%06d" % self.n
        if isinstance(text, str):
            text = text.encode()
        self.sock.sendall(tag + b" " + text + b"\r\n")
        marker = b"\r\n" + tag + b" "
        chunks: list[bytes] = []
        total = 0
        # The reply so far, searched from just before the newest chunk.
        window = b"\r\n" + self.pending
        self.pending = b""
        pos = -1
        if window.find(marker) >= 0:
            pos = window.find(marker)
        if keep:
            chunks.append(window[2:])
        total += len(window) - 2
        while pos < 0:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ImapError(f"connection closed during {text[:40]!r}")
            total += len(chunk)
            if keep:
                chunks.append(chunk)
            window = window[-(len(marker) - 1):] + chunk
            pos = window.find(marker)
        end = window.find(b"\r\n", pos + len(marker))
        while end < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ImapError("connection closed in tagged reply")
            total += len(chunk)
            if keep:
                chunks.append(chunk)
            window += chunk
            end = window.find(b"\r\n", pos + len(marker))
        status = window[pos + len(marker):end].decode("utf-8", "replace")
        self.pending = window[end + 2:]
        data = b"".join(chunks) if keep else b""
        return status, data, total

    def ok(self, text: str, keep: bool = False) -> tuple[bytes, int]:
        status, data, total = self.command(text, keep)
        if not status.startswith("OK"):
            raise ImapError(f"{text[:40]} -> {status[:200]}")
        return data, total

    def close(self) -> None:
        try:
            self.sock.settimeout(5)
            self.command("LOGOUT")
        except (OSError, ImapError):
            pass
        self.sock.close()


# Where the benchmark's account is: set by main() for --host/--user/--password.
TARGET = {"host": "127.0.0.1", "user": USER, "password": PASSWORD}


def login(port: int) -> RawImap:
    c = RawImap(port, host=TARGET["host"])
    c.ok(f'LOGIN "{TARGET["user"]}" "{TARGET["password"]}"')
    return c


# --------------------------------------------------------------------------
# Measurements


def tree_read_bytes(pid: int) -> int:
    """Sum of ``rchar`` (bytes read by read()/pread() family, cache hits
    included) over the process tree."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/io").read_text().splitlines():
                if line.startswith("rchar:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


@dataclasses.dataclass
class Single:
    server: str
    populate_seconds: float = 0.0
    populate_how: str = ""
    first: dict[str, float] = dataclasses.field(default_factory=dict)
    warm: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    fetch_lines: int = 0
    fetch_bytes: int = 0
    fetch_read_mib: float = 0.0
    search_hits: int = 0
    hits: dict[str, int] = dataclasses.field(default_factory=dict)
    exists: int = 0
    cpu_seconds: float = 0.0
    pss_bytes: int = 0
    error: str = ""

    def median(self, what: str) -> float | None:
        xs = self.warm.get(what)
        return statistics.median(xs) if xs else None


def _search_hits(data: bytes) -> int:
    m = re.search(rb"^\* SEARCH([ 0-9]*)\r$", data, re.M)
    if m:
        return len(m.group(1).split())
    m = re.search(rb"^\* ESEARCH .*?ALL ([0-9:,]+)", data, re.M)
    if m:
        n = 0
        for part in m.group(1).split(b","):
            a, _, b = part.partition(b":")
            n += abs(int(b or a) - int(a)) + 1
        return n
    return 0


def measure_single(server, name: str, result: Single, repeats: int, search_repeats: int) -> None:
    """First and warm SELECT / FETCH 1:* (UID FLAGS) / UID SEARCH UNSEEN,
    then first and warm UID SEARCH BODY <rare word> and UID SEARCH SUBJECT
    <word> (fewer repeats: without a full-text index they read every
    message)."""
    cpu0 = server.cpu_seconds() if server is not None else 0.0
    c = login(server.imap_port if server is not None else TARGET["port"])
    pid = server.pid if server is not None else None
    try:
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            data, _ = c.ok("SELECT INBOX", keep=True)
            dt = time.perf_counter() - t0
            m = re.search(rb"^\* (\d+) EXISTS", data, re.M)
            result.exists = int(m.group(1)) if m else -1
            rb0 = tree_read_bytes(pid) if pid else 0
            t0 = time.perf_counter()
            fdata, ftotal = c.ok("FETCH 1:* (UID FLAGS)", keep=(r == 0))
            ft = time.perf_counter() - t0
            read_mib = ((tree_read_bytes(pid) - rb0) / MIB) if pid else 0.0
            t0 = time.perf_counter()
            sdata, _ = c.ok("UID SEARCH UNSEEN", keep=True)
            st = time.perf_counter() - t0
            if r == 0:
                result.first = {"select": dt, "fetch": ft, "search": st}
                result.fetch_lines = fdata.count(b" FETCH (")
                result.fetch_bytes = ftotal
                result.search_hits = _search_hits(sdata)
                result.fetch_read_mib = read_mib
            else:
                for k, v in (("select", dt), ("fetch", ft), ("search", st)):
                    result.warm.setdefault(k, []).append(v)
                result.fetch_read_mib = max(result.fetch_read_mib, read_mib)
            print(f"  {name} round {r}: SELECT {dt * 1000:.1f} ms, FETCH {ft * 1000:.1f} ms, "
                  f"SEARCH {st * 1000:.1f} ms", file=sys.stderr, flush=True)
        for r in range(search_repeats + 1):
            took = []
            for key, command in TEXT_SEARCHES:
                t0 = time.perf_counter()
                data, _ = c.ok(command, keep=True)
                dt = time.perf_counter() - t0
                took.append(f"{key} {dt * 1000:.1f} ms")
                if r == 0:
                    result.first[key] = dt
                    result.hits[key] = _search_hits(data)
                else:
                    result.warm.setdefault(key, []).append(dt)
            print(f"  {name} round {r}: SEARCH " + ", ".join(took), file=sys.stderr, flush=True)
    finally:
        c.close()
    if server is not None:
        result.cpu_seconds = server.cpu_seconds() - cpu0
        result.pss_bytes = server.pss_bytes()


# The text searches (issue 7: BODY and TEXT of a rare and a common word):
# the rare word is planted in 5 bodies; "wrote" opens the quote of every
# reply; the subject word is in many subjects, which TEXT searches too.
COMMON_BODY_WORD = "wrote"
TEXT_SEARCHES = (
    ("body", f"UID SEARCH BODY {RARE_WORD}"),
    ("text", f"UID SEARCH TEXT {RARE_WORD}"),
    ("body_common", f"UID SEARCH BODY {COMMON_BODY_WORD}"),
    ("text_common", f"UID SEARCH TEXT {SUBJECT_WORD}"),
    ("subject", f"UID SEARCH SUBJECT {SUBJECT_WORD}"),
)
_TEXT_LABELS = {
    "body": f"SEARCH BODY {RARE_WORD} (rare)", "text": f"SEARCH TEXT {RARE_WORD} (rare)",
    "body_common": f"SEARCH BODY {COMMON_BODY_WORD} (common)",
    "text_common": f"SEARCH TEXT {SUBJECT_WORD} (common)", "subject": f"SEARCH SUBJECT {SUBJECT_WORD}",
}

MIXED_OPS = ("SELECT", "FETCH 50 (UID FLAGS ENVELOPE)", "FETCH BODY.PEEK[]", "STORE +FLAGS \\Seen",
             "UID SEARCH UNSEEN", "NOOP")


@dataclasses.dataclass
class Mixed:
    server: str
    clients: int = 0
    seconds: float = 0.0
    ops: int = 0
    errors: int = 0
    latencies: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    cpu_seconds: float = 0.0
    pss_bytes: int = 0
    rss_bytes: int = 0
    error: str = ""

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_op(self) -> float:
        return 1000 * self.cpu_seconds / self.ops if self.ops else 0.0


def _mixed_worker(port: int, index: int, count: int, deadline_box: dict, ready: threading.Barrier,
                  finished: threading.Barrier, release: threading.Event,
                  lock: threading.Lock, result: Mixed, error_texts: list[str]) -> None:
    try:
        _mixed_loop(port, index, count, deadline_box, ready, lock, result, error_texts)
    finally:
        # Sessions stay logged in until the server's memory is measured
        # (Dovecot's imap processes exit at LOGOUT).
        try:
            finished.wait(timeout=2 * COMMAND_TIMEOUT)
        except threading.BrokenBarrierError:
            pass
        release.wait(timeout=60)
        conn = deadline_box.get(f"conn{index}")
        if conn is not None:
            conn.close()


def _mixed_loop(port: int, index: int, count: int, deadline_box: dict, ready: threading.Barrier,
                lock: threading.Lock, result: Mixed, error_texts: list[str]) -> None:
    rng = random.Random(1000 + index)
    lat: dict[str, list[float]] = {op: [] for op in MIXED_OPS}
    ops = errors = 0
    conn = None
    try:
        conn = login(port)
        deadline_box[f"conn{index}"] = conn
        conn.ok("SELECT INBOX")
    except Exception as exc:  # noqa: BLE001 - reported
        with lock:
            error_texts.append(f"client {index} setup: {exc}")
        conn = None
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        return
    if conn is None:
        return
    deadline = deadline_box["t"]
    try:
        while time.monotonic() < deadline:
            lo = rng.randint(1, max(1, count - 49))
            one = rng.randint(1, count)
            cmds = (
                "SELECT INBOX",
                f"FETCH {lo}:{min(count, lo + 49)} (UID FLAGS ENVELOPE)",
                f"FETCH {rng.randint(1, count)} BODY.PEEK[]",
                f"STORE {one} +FLAGS (\\Seen)",
                "UID SEARCH UNSEEN",
                "NOOP",
            )
            for op, cmd in zip(MIXED_OPS, cmds):
                t0 = time.perf_counter()
                status, _, _ = conn.command(cmd)
                dt = time.perf_counter() - t0
                if status.startswith("OK"):
                    ops += 1
                    lat[op].append(dt)
                else:
                    errors += 1
                    if len(error_texts) < 20:
                        with lock:
                            error_texts.append(f"{cmd} -> {status[:160]}")
                if time.monotonic() >= deadline:
                    break
    except Exception as exc:  # noqa: BLE001 - one client's failure ends its loop
        errors += 1
        with lock:
            error_texts.append(f"client {index}: {exc!r}"[:300])
    finally:
        with lock:
            result.ops += ops
            result.errors += errors
            for op, xs in lat.items():
                result.latencies.setdefault(op, []).extend(xs)


def measure_mixed(server, name: str, clients: int, duration: float, count: int) -> Mixed:
    result = Mixed(server=name, clients=clients)
    lock = threading.Lock()
    errors: list[str] = []
    box: dict[str, float] = {}

    def go() -> None:
        box["cpu"] = server.cpu_seconds()
        box["t0"] = time.monotonic()
        box["t"] = box["t0"] + duration

    ready = threading.Barrier(clients + 1, action=go)
    finished = threading.Barrier(clients + 1)
    release = threading.Event()
    threads = [threading.Thread(target=_mixed_worker,
                                args=(server.imap_port, i, count, box, ready, finished, release,
                                      lock, result, errors),
                                name=f"{name}-imap-{i}", daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        ready.wait(timeout=COMMAND_TIMEOUT)
    except threading.BrokenBarrierError:
        result.error = "clients did not log in and select in time; " + "; ".join(errors)[:300]
        finished.abort()
        release.set()
        return result
    try:
        # Bounded: each command has a socket timeout; the loops end at the deadline.
        finished.wait(timeout=duration + 2 * COMMAND_TIMEOUT)
    except threading.BrokenBarrierError:
        result.error = "clients did not finish in time; "
    result.seconds = time.monotonic() - box["t0"]
    result.cpu_seconds = server.cpu_seconds() - box["cpu"]
    # Measured with every session still logged in and the mailbox selected.
    result.pss_bytes = server.pss_bytes()
    result.rss_bytes = server.rss_bytes()
    release.set()
    for t in threads:
        t.join(70)
    if errors:
        result.error += "; ".join(dict.fromkeys(errors))[:400]
    return result


# --------------------------------------------------------------------------
# Report


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{1000 * x:.1f}"


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def format_report(singles: dict[str, Single], mixed: dict[str, Mixed], unavailable: dict[str, str],
                  info: dict[str, str], versions: dict[str, str], stats: dict, args) -> str:
    out = [f"## IMAP on a {stats['messages']:,}-message mailbox", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- {n}: {v}" for n, v in versions.items()]
    if "unseen" in stats:
        out.append(f"- mailbox: {stats['messages']:,} messages from bench/corpus.py, "
                   f"{stats['unseen']:,} unseen, {stats['flagged']:,} flagged, "
                   f"{stats['with_attachments']:,} with attachments, size {stats['min_size']:,} B to "
                   f"{stats['max_size']:,} B, mean {stats['mean_size']:.0f} B, {stats['total_mib']:.0f} MiB")
    else:
        out.append(f"- mailbox: {stats['messages']:,} messages from bench/corpus.py "
                   f"(attachment rate {args.attachment_rate:g}; --full-stats for sizes)")
    out.append(f"- repeats: {args.repeats} warm (median reported), SEARCH BODY/SUBJECT "
               f"{args.search_repeats} warm; mixed load: "
               + (f"{args.clients} clients for {args.duration:g} s" if args.clients > 0 else "not run"))
    out += [f"- {n}: NOT MEASURED ({why.splitlines()[0][:200]})" for n, why in unavailable.items()]
    for n, s in singles.items():
        out.append(f"- {n} population: {s.populate_how}, {s.populate_seconds:.1f} s")
    out.append("")
    rows = []
    for n, s in singles.items():
        if s.error and not s.first:
            rows.append([n] + ["—"] * 11)
            continue
        rows.append([
            n, f"{s.exists:,}",
            _ms(s.first.get("select")), _ms(s.median("select")),
            _ms(s.first.get("fetch")), _ms(s.median("fetch")),
            _ms(s.first.get("search")), _ms(s.median("search")),
            f"{s.fetch_lines:,} / {s.fetch_bytes / MIB:.1f} MiB / {s.fetch_read_mib:.1f} MiB",
            f"{s.search_hits:,}", f"{s.cpu_seconds:.1f}", f"{s.pss_bytes / MIB:.1f}",
        ])
    out.append(markdown_table(
        ["server", "EXISTS", "first SELECT ms", "SELECT ms", "first FETCH ms",
         "FETCH 1:* (UID FLAGS) ms", "first SEARCH ms", "UID SEARCH UNSEEN ms",
         "FETCH lines / reply / server read", "SEARCH hits", "server CPU s (all rounds)",
         "PSS MiB after"], rows))
    out.append("")
    out.append(markdown_table(
        ["search", *(f"{n} first ms / warm ms / hits" for n, s in singles.items() if s.first)],
        [[label, *(f"{_ms(s.first.get(key))} / {_ms(s.median(key))} / {s.hits.get(key, 0):,}"
                   for s in singles.values() if s.first)]
         for key, label in _TEXT_LABELS.items()]))
    out.append(f"(expected hits: BODY/TEXT rare {stats.get('rare_hits', '?')}, SUBJECT "
               f"{stats.get('subject_hits', '?')})")
    errs = [f"- {n}: {s.error}" for n, s in singles.items() if s.error]
    if errs:
        out += ["", "Errors (single client):"] + errs
    if not mixed:
        return "\n".join(out + ["", "(mixed load not run)"] + _ratio_lines(singles, mixed))
    out.append("")
    rows = []
    for n, m in mixed.items():
        lat = ", ".join(f"{_ms(statistics.median(m.latencies[op]) if m.latencies.get(op) else None)}"
                        f"/{_ms(_pct(m.latencies.get(op, []), 0.95))}"
                        for op in MIXED_OPS)
        rows.append([n, f"{m.clients}", f"{m.ops:,}" + (f" ({m.errors} failed)" if m.errors else ""),
                     f"{m.seconds:.1f}", f"{m.ops_per_s:.1f}", f"{m.cpu_ms_per_op:.2f}",
                     f"{m.pss_bytes / MIB:.1f}", f"{m.rss_bytes / MIB:.1f}", lat])
    out.append(markdown_table(["server", "clients", "ops", "s", "ops/s", "server CPU ms/op",
                               "PSS MiB at end", "RSS MiB (sum)",
                               "median/p95 ms: SELECT, FETCH 50, BODY.PEEK[], STORE, UID SEARCH, NOOP"],
                              rows))
    errs = [f"- {n}: {m.error}" for n, m in mixed.items() if m.error]
    if errs:
        out += ["", "Errors (mixed load):"] + errs
    return "\n".join(out + _ratio_lines(singles, mixed))


def _ratio_lines(singles: dict[str, Single], mixed: dict[str, Mixed]) -> list[str]:
    out: list[str] = []
    d_s, h_s = singles.get("dovecot"), singles.get("hivemail")
    d_m, h_m = mixed.get("dovecot"), mixed.get("hivemail")
    ratio_rows = []
    if d_s and h_s:
        for what, label in (("select", "SELECT (warm) ms"), ("fetch", "FETCH 1:* (UID FLAGS) ms"),
                            ("search", "UID SEARCH UNSEEN ms"),
                            *((k, f"UID {label} ms") for k, label in _TEXT_LABELS.items())):
            d, h = d_s.median(what), h_s.median(what)
            if d and h:
                ratio_rows.append([label, _ms(d), _ms(h), f"{h / d:.2f}"])
        d, h = d_s.first.get("select"), h_s.first.get("select")
        if d and h:
            ratio_rows.append(["first SELECT ms", _ms(d), _ms(h), f"{h / d:.2f}"])
    if d_m and h_m and d_m.ops_per_s and h_m.ops:
        ratio_rows.append(["mixed load ops/s (higher is better)", f"{d_m.ops_per_s:.1f}",
                           f"{h_m.ops_per_s:.1f}", f"{h_m.ops_per_s / d_m.ops_per_s:.2f}"])
        if d_m.pss_bytes:
            ratio_rows.append(["PSS MiB, end of mixed load", f"{d_m.pss_bytes / MIB:.1f}",
                               f"{h_m.pss_bytes / MIB:.1f}", f"{h_m.pss_bytes / d_m.pss_bytes:.2f}"])
    if ratio_rows:
        out += ["", markdown_table(["measure", "Dovecot", "hivemail", "hivemail/Dovecot"], ratio_rows)]
    else:
        out += ["", "(no hivemail/Dovecot ratio: both servers must be measured)"]
    return out


def summary_rows(singles: dict[str, Single], stats: dict) -> list[dict]:
    """The rows this benchmark contributes to run_all's one table."""
    wl = f"Big mailbox ({stats['messages']:,})"
    d, h = singles.get("dovecot"), singles.get("hivemail")

    def v(s: Single | None, what: str) -> float | None:
        x = s.median(what) if s else None
        return None if x is None else 1000 * x

    return [
        {"workload": wl, "measure": "SELECT ms (warm)", "better": "lower",
         "dovecot": v(d, "select"), "hivemail": v(h, "select"), "target": 1.0},
        {"workload": wl, "measure": "FETCH 1:* (UID FLAGS) ms", "better": "lower",
         "dovecot": v(d, "fetch"), "hivemail": v(h, "fetch"), "target": 1.0},
        {"workload": wl, "measure": "SEARCH BODY (rare word) ms", "better": "lower",
         "dovecot": v(d, "body"), "hivemail": v(h, "body"), "target": 0.1},
        {"workload": wl, "measure": "SEARCH TEXT (rare word) ms", "better": "lower",
         "dovecot": v(d, "text"), "hivemail": v(h, "text"), "target": None},
        {"workload": wl, "measure": "SEARCH BODY (common word) ms", "better": "lower",
         "dovecot": v(d, "body_common"), "hivemail": v(h, "body_common"), "target": None},
        {"workload": wl, "measure": "SEARCH TEXT (common word) ms", "better": "lower",
         "dovecot": v(d, "text_common"), "hivemail": v(h, "text_common"), "target": None},
        {"workload": wl, "measure": "SEARCH SUBJECT ms", "better": "lower",
         "dovecot": v(d, "subject"), "hivemail": v(h, "subject"), "target": None},
    ]


# --------------------------------------------------------------------------
# Driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="10,000 messages, 3 repeats, 5 s of mixed load")
    parser.add_argument("--messages", type=int, help="messages in the mailbox (default 100000)")
    parser.add_argument("--repeats", type=int, help="warm repetitions of each command (default 5)")
    parser.add_argument("--search-repeats", type=int,
                        help="warm repetitions of SEARCH BODY / SUBJECT (default 1)")
    parser.add_argument("--attachment-rate", type=float, default=0.01,
                        help="share of messages with attachments (default 0.01; bench/corpus.py)")
    parser.add_argument("--clients", type=int, default=10,
                        help="mixed-load sessions (default 10; 0 skips the mixed load)")
    parser.add_argument("--duration", type=float, help="mixed-load seconds (default 10)")
    parser.add_argument("--load-jobs", type=int, default=os.cpu_count() or 1,
                        help="processes analysing messages for hivemail's bulk load")
    parser.add_argument("--full-stats", action="store_true",
                        help="count unseen/flagged/sizes of the mailbox (generates it once more)")
    parser.add_argument("--cache", metavar="DIR",
                        help="keep freshly populated mail trees here and reuse them on later runs "
                             "(copied, so every run starts from the same state; default: none)")
    add_server_options(parser)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.messages = args.messages or (10_000 if args.quick else 100_000)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.search_repeats = args.search_repeats if args.search_repeats is not None else 1
    args.duration = args.duration or (5.0 if args.quick else 10.0)
    cache = Path(args.cache).resolve() if args.cache else None

    corpus = Corpus(args.messages, seed=4242, to=USER, attachment_rate=args.attachment_rate)
    stats = corpus.stats() if (args.full_stats or args.messages <= 20_000) else corpus.quick_stats()
    info = machine_info(args.workdir)
    # Other work on the machine moves these figures; say how busy it was.
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    servers: dict[str, object] = {}
    unavailable: dict[str, str] = {}
    versions: dict[str, str] = {}
    singles: dict[str, Single] = {}
    mixed: dict[str, Mixed] = {}
    created = []
    emitted: list[bool] = []

    def emit() -> None:
        if emitted:
            return
        emitted.append(True)
        print(format_report(singles, mixed, unavailable, info, versions, stats, args))
        write_json(args.json, {
            "benchmark": "imap",
            "machine": info,
            "versions": versions,
            "unavailable": unavailable,
            "mailbox": stats,
            "summary": summary_rows(singles, stats),
            "options": {"messages": args.messages, "repeats": args.repeats,
                        "search_repeats": args.search_repeats,
                        "clients": args.clients, "duration": args.duration},
            "single": {n: dict(dataclasses.asdict(s), median={k: s.median(k) for k in s.warm})
                       for n, s in singles.items()},
            "mixed": {n: dict(dataclasses.asdict(m), ops_per_s=m.ops_per_s,
                              cpu_ms_per_op=m.cpu_ms_per_op,
                              latencies={op: {"n": len(xs),
                                              "median": statistics.median(xs) if xs else None,
                                              "p95": _pct(xs, 0.95)}
                                         for op, xs in m.latencies.items()})
                      for n, m in mixed.items()},
        })

    if external(args):
        TARGET.update(host=args.host or "127.0.0.1", port=args.port, user=args.user or USER,
                      password=args.password)
        single = singles[args.name] = Single(server=args.name, populate_how="already populated")
        try:
            measure_single(None, args.name, single, args.repeats, args.search_repeats)
        except (ImapError, OSError) as exc:
            single.error = str(exc)[:300]
        args.clients = 0
    try:
        for name in ([] if external(args) else server_names(args)):
            server = make_server(name, args, protocols=("lmtp", "imap"))
            created.append(server)
            single = Single(server=name)
            try:
                server.add_user(USER, PASSWORD)
                if name == "dovecot":
                    tree = server.home(USER)
                    key = f"dovecot-{args.dovecot_format}-{corpus.key()}"

                    def fill(server=server):
                        populate_dovecot(server, [(USER, corpus)])
                        if args.dovecot_format == "maildir":
                            return "maildir files written into cur/ (not yet indexed)"
                        return (f"maildir written, then doveadm import into {args.dovecot_format} "
                                "(mail_fsync=never for the load)")
                else:
                    tree = server.data_dir
                    key = f"hivemail-{corpus.key()}"

                    def fill(server=server):
                        populate_hivemail(server, [(USER, corpus)], args.load_jobs)
                        return (f"EmbeddedStore(fsync=False).deliver in-process, "
                                f"{args.load_jobs} analysis processes")
                print(f"{name}: populating {args.messages} messages ...", file=sys.stderr, flush=True)
                if name == "dovecot" and cache is not None and server.process is None:
                    server.start()  # doveadm import needs the auth service
                single.populate_seconds, single.populate_how = cached(cache, key, tree, fill)
                print(f"{name}: populated in {single.populate_seconds:.1f} s; starting ...",
                      file=sys.stderr, flush=True)
                if server.process is None:
                    server.start()
            except (ServerError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
                server.stop()
                unavailable[name] = str(exc) or repr(exc)
                print(f"{name} is not available, not measured:\n{exc}", file=sys.stderr, flush=True)
                continue
            servers[name] = server
            singles[name] = single
            versions[name] = server.describe()

        for name, server in servers.items():
            os.sync()
            time.sleep(0.2)
            print(f"{name}: single-client commands ...", file=sys.stderr, flush=True)
            try:
                measure_single(server, name, singles[name], args.repeats, args.search_repeats)
            except (ImapError, OSError) as exc:
                singles[name].error = str(exc)[:300]
                print(f"  {name}: {exc}", file=sys.stderr, flush=True)
        for name, server in servers.items():
            if args.clients <= 0 or (singles[name].error and not singles[name].first):
                continue
            os.sync()
            time.sleep(0.2)
            print(f"{name}: mixed load, {args.clients} clients, {args.duration:g} s ...",
                  file=sys.stderr, flush=True)
            m = measure_mixed(server, name, args.clients, args.duration, args.messages)
            mixed[name] = m
            print(f"  {m.ops} ops in {m.seconds:.1f} s = {m.ops_per_s:.1f} ops/s "
                  f"({m.errors} failed) {m.error[:200]}", file=sys.stderr, flush=True)
        # Report before stopping: a SIGTERM (budget) during the teardown of
        # 100,000-message trees must not lose the figures.
        emit()
    finally:
        for server in created:
            server.stop()
    if not emitted:
        emit()
    measured = any(s.first for s in singles.values())
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
