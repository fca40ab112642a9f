#!/usr/bin/env python3
"""IMAP on a large mailbox, Dovecot and hivemail side by side.

One account per server holds one INBOX of ``--messages`` messages (100,000
by default; 10,000 with ``--quick``): the same deterministic messages for
both, 1.5-4 KiB each, realistic headers (Received, From with display names,
some Cc, In-Reply-To/References, List-Id, RFC 2047 subjects), 15 %
multipart/alternative, 30 % unseen, 8 % \\Flagged, some \\Answered, internal
dates spread over a year.

The mailboxes are populated without the servers' delivery path (LMTP at a
few hundred messages/s would take minutes and is measured by delivery.py):

* Dovecot: maildir files written straight into ``Maildir/cur`` (LF line
  endings, ``,S=<size>,W=<vsize>:2,<flags>`` names, mtime = internal date,
  owned by the mail uid).  Dovecot has no index for them yet, so its *first*
  SELECT builds the index (maildir scan, dovecot-uidlist); it is reported
  apart from the warm SELECTs.
* hivemail: ``hivemail user add`` then, in this process before the server
  starts, ``EmbeddedStore(data, fsync=False).deliver(...)`` with many
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
* a mixed load: ``--clients`` concurrent sessions (threads), each logged in
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

``--cache DIR`` keeps each freshly populated mail tree (Dovecot's maildir,
hivemail's data directory) under DIR, keyed by server, message count and
generator version, and later runs copy it (``cp -a``) instead of populating:
every run still starts from the same unindexed/just-loaded state.  Delete
DIR when hivemail's store format changes.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import datetime
import json
import multiprocessing
import os
import random
import re
import shutil
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
from bench.servers import (  # noqa: E402
    REPO_ROOT,
    DovecotServer,
    HivemailServer,
    ServerError,
    dovecot_version,
    process_tree,
)

MIB = 1024 * 1024
USER = "big@example.test"
PASSWORD = "bench-password"
COMMAND_TIMEOUT = 300.0  # one command on a 100k mailbox; a hung server fails the phase
GENERATOR_VERSION = 1  # bump when the messages change (cache key)

# --------------------------------------------------------------------------
# Messages

_FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
          "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
          "Zoë", "José", "Björn", "Chloé", "Łukasz"]
_LAST = ["Smith", "Jones", "Müller", "García", "Rossi", "Dubois", "Nowak", "Kowalski", "Tanaka",
         "Olsen", "O'Brien", "Novák", "Silva", "Kim", "Ivanova", "Schmidt"]
_DOMAINS = ["example.com", "example.org", "mail.example.net", "lists.example.org",
            "corp.example.com", "example.test"]
_LISTS = ["dev.lists.example.org", "announce.lists.example.org", "users.lists.example.org"]
_WORDS = ("meeting report invoice build release review notes quarterly budget update draft "
          "proposal schedule server outage patch holiday travel contract agenda summary "
          "question answer follow-up reminder feedback design migration backup test").split()


def _word_pool(rng: random.Random) -> list[str]:
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
            for _ in range(800)]


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    """*count* paragraphs of 3-9 lines of at most 72 characters."""
    vocab = _word_pool(rng)
    out = []
    for _ in range(count):
        lines = []
        for _ in range(rng.randint(3, 9)):
            words, width = [], 0
            while True:
                w = rng.choice(vocab)
                if width + len(w) + 1 > 72:
                    break
                words.append(w)
                width += len(w) + 1
            lines.append(" ".join(words))
        out.append("\r\n".join(lines))
    return out


def _address(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = (first + "." + last).lower().replace("'", "")
    local = local.encode("ascii", "ignore").decode() or "user"
    return f"{first} {last}", f"{local}@{rng.choice(_DOMAINS)}"


def _display(name: str) -> str:
    """A display name as a header needs it: RFC 2047 when not ASCII."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        import base64
        return "=?UTF-8?B?" + base64.b64encode(name.encode()).decode() + "?="
    return f'"{name}"' if "'" in name else name


@dataclasses.dataclass(frozen=True)
class Message:
    raw: bytes  # CRLF
    flags: tuple[str, ...]  # IMAP system flags
    internal_date: float  # epoch seconds


class MessageSource:
    """Message *i* of the mailbox, deterministic from the seed; both servers
    get the same bytes, flags and internal dates."""

    BASE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp()

    def __init__(self, count: int, seed: int = 4242) -> None:
        self.count = count
        self.seed = seed
        self.paragraphs = _paragraphs(random.Random(seed), 300)

    def message(self, i: int) -> Message:
        rng = random.Random(self.seed * 1_000_003 + i)
        sent = self.BASE + i * (365 * 86400 / max(self.count, 1)) + rng.randint(0, 200)
        received = sent + rng.randint(1, 30)
        from_name, from_addr = _address(rng)
        to_name, to_addr = "Big Mailbox", USER
        date = datetime.datetime.fromtimestamp(sent, datetime.timezone.utc)
        rdate = datetime.datetime.fromtimestamp(received, datetime.timezone.utc)
        subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 7))).capitalize()
        if rng.random() < 0.1:
            subject = "=?UTF-8?Q?R=C3=A9sum=C3=A9_?= " + subject
        if rng.random() < 0.3:
            subject = "Re: " + subject
        h = [
            f"Return-Path: <{from_addr}>",
            f"Received: from mx{rng.randint(1, 9)}.{from_addr.split('@')[1]} "
            f"(mx.{from_addr.split('@')[1]} [192.0.2.{rng.randint(1, 254)}])\r\n"
            f"\tby mail.example.test with ESMTPS id {rng.getrandbits(48):012x}\r\n"
            f"\tfor <{to_addr}>; {rdate.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
            f"Received: from [198.51.100.{rng.randint(1, 254)}] by mx.{from_addr.split('@')[1]}\r\n"
            f"\twith ESMTPSA; {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
            f"From: {_display(from_name)} <{from_addr}>",
            f"To: {to_name} <{to_addr}>",
        ]
        if rng.random() < 0.25:
            cc = [_address(rng) for _ in range(rng.randint(1, 3))]
            h.append("Cc: " + ",\r\n ".join(f"{_display(n)} <{a}>" for n, a in cc))
        h += [
            f"Subject: {subject}",
            f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
            f"Message-ID: <m{i}.{rng.getrandbits(32):08x}@{from_addr.split('@')[1]}>",
        ]
        if rng.random() < 0.3 and i > 0:
            parent = f"<m{rng.randrange(i)}.{rng.getrandbits(32):08x}@example.com>"
            h += [f"In-Reply-To: {parent}", f"References: {parent}"]
        if rng.random() < 0.2:
            h.append(f"List-Id: <{rng.choice(_LISTS)}>")
        h.append("MIME-Version: 1.0")
        text = f"Message {i}.\r\n\r\n" + "\r\n\r\n".join(
            rng.choice(self.paragraphs) for _ in range(rng.randint(3, 6))) + "\r\n"
        if rng.random() < 0.15:
            boundary = f"=_b{rng.getrandbits(40):010x}"
            html = "<html><body><p>" + text.replace("\r\n\r\n", "</p>\r\n<p>") + "</p></body></html>\r\n"
            h.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
            body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    f"Content-Transfer-Encoding: 7bit\r\n\r\n{text}"
                    f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Transfer-Encoding: 7bit\r\n\r\n{html}"
                    f"--{boundary}--\r\n")
        else:
            h.append("Content-Type: text/plain; charset=utf-8; format=flowed")
            h.append("Content-Transfer-Encoding: 7bit")
            body = text
        raw = ("\r\n".join(h) + "\r\n\r\n" + body).encode("utf-8")
        flags = []
        if rng.random() >= 0.30:
            flags.append("\\Seen")
            if rng.random() < 0.15:
                flags.append("\\Answered")
        if rng.random() < 0.08:
            flags.append("\\Flagged")
        return Message(raw, tuple(flags), received)

    def stats(self) -> dict[str, float]:
        """Counts the load should show (computed, not assumed)."""
        unseen = size = flagged = 0
        for i in range(self.count):
            m = self.message(i)
            size += len(m.raw)
            unseen += "\\Seen" not in m.flags
            flagged += "\\Flagged" in m.flags
        return {"messages": self.count, "unseen": unseen, "flagged": flagged,
                "mean_size": size / max(self.count, 1), "total_mib": size / MIB}


# --------------------------------------------------------------------------
# Population

_MAILDIR_LETTER = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}


def populate_dovecot(server: DovecotServer, source: MessageSource) -> float:
    """Write the messages as maildir files into the user's ``Maildir/cur``;
    returns the seconds it took.  No fsync: Dovecot has not seen them yet."""
    t0 = time.monotonic()
    uid, gid = server._mail_ids()
    home = server.mail_root / USER
    maildir = home / "Maildir"
    for d in (home, maildir, maildir / "cur", maildir / "new", maildir / "tmp"):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chown(d, uid, gid)
    cur = maildir / "cur"
    chown = os.getuid() == 0
    for i in range(source.count):
        m = source.message(i)
        lf = m.raw.replace(b"\r\n", b"\n")
        letters = "".join(sorted(_MAILDIR_LETTER[f] for f in m.flags))
        ts = int(m.internal_date)
        name = f"{ts}.M{i}P{os.getpid()}.bench,S={len(lf)},W={len(m.raw)}:2,{letters}"
        path = cur / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, lf)
            if chown:
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        os.utime(path, (ts, ts))
    return time.monotonic() - t0


def _analyse_range(seed: int, count: int, start: int, stop: int) -> list[tuple[int, bytes, bytes]]:
    """Worker process: (i, raw, analysis) for messages start..stop."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from hivemail.mime import analyse

    source = _worker_source(seed, count)
    out = []
    for i in range(start, stop):
        raw = source.message(i).raw
        out.append((i, raw, analyse(raw).to_bytes()))
    return out


_SOURCES: dict[tuple[int, int], MessageSource] = {}


def _worker_source(seed: int, count: int) -> MessageSource:
    key = (seed, count)
    if key not in _SOURCES:
        _SOURCES[key] = MessageSource(count, seed)
    return _SOURCES[key]


def populate_hivemail(server: HivemailServer, source: MessageSource, jobs: int) -> float:
    """Deliver the messages in-process through the embedded store with
    fsync off (group commit, 64 in flight), analysis in *jobs* processes.
    The account must exist and the server must not be running."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from hivemail.mailstore import Recipient
    from hivemail.mailstore.embedded.store import EmbeddedStore

    t0 = time.monotonic()
    chunk = 500

    async def load() -> None:
        store = EmbeddedStore(server.data_dir, fsync=False)
        await store.open()
        try:
            loop = asyncio.get_running_loop()
            sem = asyncio.Semaphore(64)
            errors: list[str] = []
            pending: set[asyncio.Task] = set()

            async def one(i: int, raw: bytes, analysis: bytes) -> None:
                try:
                    flags = frozenset(flags_of[i])
                    [res] = await store.deliver([Recipient(USER, "INBOX", flags)], raw, analysis,
                                                internal_date=datetime.datetime.fromtimestamp(
                                                    dates_of[i], datetime.timezone.utc))
                    if not hasattr(res, "uid"):
                        errors.append(repr(res))
                finally:
                    sem.release()

            # spawn, not fork: this process already runs the store's threads.
            ctx = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max(1, jobs), mp_context=ctx) as pool:
                ranges = [(s, min(s + chunk, source.count)) for s in range(0, source.count, chunk)]
                futures = [loop.run_in_executor(pool, _analyse_range, source.seed, source.count, a, b)
                           for a, b in ranges[:2 * jobs + 2]]
                next_range = len(futures)
                for k in range(len(ranges)):
                    batch = await futures[k]
                    if next_range < len(ranges):
                        a, b = ranges[next_range]
                        futures.append(loop.run_in_executor(pool, _analyse_range, source.seed,
                                                            source.count, a, b))
                        next_range += 1
                    for i, raw, analysis in batch:
                        await sem.acquire()
                        task = asyncio.create_task(one(i, raw, analysis))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                    if errors:
                        raise RuntimeError(f"hivemail bulk load: {errors[0]}")
                if pending:
                    await asyncio.gather(*pending)
            if errors:
                raise RuntimeError(f"hivemail bulk load: {errors[0]}")
        finally:
            await store.close()

    # Flags and dates are cheap to compute here; the raw bytes and their
    # analysis come from the worker processes.
    flags_of: list[tuple[str, ...]] = []
    dates_of: list[float] = []
    for i in range(source.count):
        m = source.message(i)
        flags_of.append(m.flags)
        dates_of.append(m.internal_date)
    asyncio.run(load())
    os.sync()
    return time.monotonic() - t0


def cache_key(name: str, source: MessageSource) -> str:
    return f"{name}-{source.count}-s{source.seed}-v{GENERATOR_VERSION}"


def restore_from_cache(cache: Path | None, key: str, target: Path) -> bool:
    """Copy a cached, freshly populated mail tree into *target* (with
    ownership and times); False when there is none."""
    if cache is None or not (cache / key / "complete").exists():
        return False
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["cp", "-a", str(cache / key / "tree"), str(target)], check=True, timeout=1800)
    return True


def save_to_cache(cache: Path | None, key: str, source_tree: Path) -> None:
    if cache is None:
        return
    dest = cache / key
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(source_tree), str(dest / "tree")], check=True, timeout=1800)
    (dest / "complete").write_text("ok\n")


# --------------------------------------------------------------------------
# Raw IMAP client


class ImapError(RuntimeError):
    pass


class RawImap:
    """A minimal IMAP client: one command at a time, the reply read in large
    chunks and scanned only for the tagged line.  Literals are not parsed;
    the benchmark's messages never contain a line starting with a tag."""

    def __init__(self, port: int, timeout: float = COMMAND_TIMEOUT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
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


def login(port: int) -> RawImap:
    c = RawImap(port)
    c.ok(f'LOGIN "{USER}" "{PASSWORD}"')
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


def measure_single(server, name: str, result: Single, repeats: int) -> None:
    """First and warm SELECT / FETCH 1:* (UID FLAGS) / UID SEARCH UNSEEN."""
    cpu0 = server.cpu_seconds()
    c = login(server.imap_port)
    try:
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            data, _ = c.ok("SELECT INBOX", keep=True)
            dt = time.perf_counter() - t0
            m = re.search(rb"^\* (\d+) EXISTS", data, re.M)
            result.exists = int(m.group(1)) if m else -1
            rb0 = tree_read_bytes(server.pid)
            t0 = time.perf_counter()
            fdata, ftotal = c.ok("FETCH 1:* (UID FLAGS)", keep=(r == 0))
            ft = time.perf_counter() - t0
            read_mib = (tree_read_bytes(server.pid) - rb0) / MIB
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
    finally:
        c.close()
    result.cpu_seconds = server.cpu_seconds() - cpu0
    result.pss_bytes = server.pss_bytes()


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
    out.append(f"- mailbox: {stats['messages']:,} messages, {stats['unseen']:,} unseen, "
               f"{stats['flagged']:,} flagged, mean {stats['mean_size']:.0f} B, "
               f"{stats['total_mib']:.0f} MiB")
    out.append(f"- repeats: {args.repeats} warm (median reported); mixed load: {args.clients} "
               f"clients for {args.duration:g} s")
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
    errs = [f"- {n}: {s.error}" for n, s in singles.items() if s.error]
    if errs:
        out += ["", "Errors (single client):"] + errs
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
    d_s, h_s = singles.get("dovecot"), singles.get("hivemail")
    d_m, h_m = mixed.get("dovecot"), mixed.get("hivemail")
    ratio_rows = []
    if d_s and h_s:
        for what, label in (("select", "SELECT (warm) ms"), ("fetch", "FETCH 1:* (UID FLAGS) ms"),
                            ("search", "UID SEARCH UNSEEN ms")):
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
    return "\n".join(out)


# --------------------------------------------------------------------------
# Driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("dovecot", "hivemail"), help="measure one server")
    parser.add_argument("--quick", action="store_true",
                        help="10,000 messages, 3 repeats, 5 s of mixed load")
    parser.add_argument("--messages", type=int, help="messages in the mailbox (default 100000)")
    parser.add_argument("--repeats", type=int, help="warm repetitions of each command (default 5)")
    parser.add_argument("--clients", type=int, default=10, help="mixed-load sessions (default 10)")
    parser.add_argument("--duration", type=float, help="mixed-load seconds (default 10)")
    parser.add_argument("--load-jobs", type=int, default=os.cpu_count() or 1,
                        help="processes analysing messages for hivemail's bulk load")
    parser.add_argument("--cache", metavar="DIR",
                        help="keep freshly populated mail trees here and reuse them on later runs "
                             "(copied, so every run starts from the same state; default: none)")
    parser.add_argument("--hivemail-command", metavar="CMD",
                        help="how to run hivemail, split on spaces")
    parser.add_argument("--workdir", help="parent of the servers' temporary directories")
    parser.add_argument("--keep", action="store_true", help="keep the servers' directories")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.messages = args.messages or (10_000 if args.quick else 100_000)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.duration = args.duration or (5.0 if args.quick else 10.0)
    cache = Path(args.cache).resolve() if args.cache else None

    source = MessageSource(args.messages)
    print(f"counting {args.messages} messages ...", file=sys.stderr, flush=True)
    stats = source.stats()
    names = [args.only] if args.only else ["dovecot", "hivemail"]
    hivemail_cmd = args.hivemail_command.split() if args.hivemail_command else None
    info = machine_info(args.workdir)
    # Other work on the machine moves these figures; say how busy it was.
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    servers: dict[str, object] = {}
    unavailable: dict[str, str] = {}
    versions: dict[str, str] = {}
    singles: dict[str, Single] = {}
    mixed: dict[str, Mixed] = {}
    created = []
    try:
        for name in names:
            if name == "dovecot":
                server = DovecotServer(workdir_parent=args.workdir, keep=args.keep)
            else:
                server = HivemailServer(command=hivemail_cmd, protocols=("lmtp", "imap"),
                                        workdir_parent=args.workdir, keep=args.keep,
                                        start_timeout=120)
            created.append(server)
            single = Single(server=name)
            try:
                server.add_user(USER, PASSWORD)
                key = cache_key(name, source)
                if name == "dovecot":
                    tree = server.mail_root / USER
                else:
                    tree = server.data_dir
                t0 = time.monotonic()
                if restore_from_cache(cache, key, tree):
                    single.populate_how = f"copied from cache {cache / key}"
                    single.populate_seconds = time.monotonic() - t0
                else:
                    print(f"{name}: populating {args.messages} messages ...", file=sys.stderr, flush=True)
                    if name == "dovecot":
                        single.populate_seconds = populate_dovecot(server, source)
                        single.populate_how = "maildir files written into cur/ (not yet indexed)"
                    else:
                        single.populate_seconds = populate_hivemail(server, source, args.load_jobs)
                        single.populate_how = ("EmbeddedStore(fsync=False).deliver in-process, "
                                               f"{args.load_jobs} analysis processes")
                    save_to_cache(cache, key, tree)
                print(f"{name}: populated in {single.populate_seconds:.1f} s; starting ...",
                      file=sys.stderr, flush=True)
                server.start()
            except (ServerError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
                server.stop()
                unavailable[name] = str(exc) or repr(exc)
                print(f"{name} is not available, not measured:\n{exc}", file=sys.stderr, flush=True)
                continue
            servers[name] = server
            singles[name] = single
            if name == "dovecot":
                versions["Dovecot"] = f"{dovecot_version()}, maildir, mail_fsync = always, stock process model"
            else:
                versions["hivemail"] = "embedded store (SQLite + blob files), one process"

        for name, server in servers.items():
            os.sync()
            time.sleep(0.2)
            print(f"{name}: single-client commands ...", file=sys.stderr, flush=True)
            try:
                measure_single(server, name, singles[name], args.repeats)
            except (ImapError, OSError) as exc:
                singles[name].error = str(exc)[:300]
                print(f"  {name}: {exc}", file=sys.stderr, flush=True)
        for name, server in servers.items():
            if singles[name].error and not singles[name].first:
                continue
            os.sync()
            time.sleep(0.2)
            print(f"{name}: mixed load, {args.clients} clients, {args.duration:g} s ...",
                  file=sys.stderr, flush=True)
            m = measure_mixed(server, name, args.clients, args.duration, args.messages)
            mixed[name] = m
            print(f"  {m.ops} ops in {m.seconds:.1f} s = {m.ops_per_s:.1f} ops/s "
                  f"({m.errors} failed) {m.error[:200]}", file=sys.stderr, flush=True)
    finally:
        for server in created:
            server.stop()

    print(format_report(singles, mixed, unavailable, info, versions, stats, args))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "imap",
            "machine": info,
            "versions": versions,
            "unavailable": unavailable,
            "mailbox": stats,
            "options": {"messages": args.messages, "repeats": args.repeats,
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
        }, indent=2) + "\n")
    measured = any(s.first for s in singles.values())
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
