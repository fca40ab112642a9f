"""Fast population of mailboxes, the same messages for both servers.

Filling mailboxes over LMTP at a few hundred messages/s would take minutes
for the big mailbox (delivery speed is measured by ``delivery.py``), so the
benchmarks load mail without the delivery path:

* **Dovecot** (started by the population if needed): the messages are written as a maildir (LF line endings,
  ``,S=<size>,W=<vsize>:2,<flags>`` names, mtime = internal date, owned by
  the user's uid).  With ``mail_format = maildir`` that *is* the mailbox
  (not yet indexed: the first SELECT indexes it).  With sdbox/mdbox (the
  default) it is a staging maildir that ``doveadm import`` copies into the
  user's INBOX (flags and internal dates kept, ``mail_fsync = never`` for
  the load) and that is then removed.
* **hivemail**: in this process, before the server starts,
  ``EmbeddedStore(data, fsync=False).deliver(...)`` with 64 deliveries in
  flight (group commit), the MIME analysis by ``hivemail.mime.analyse`` in
  worker processes.  The store is closed and the server opens it normally
  (fsync on).  Skipping fsync only speeds the load; the files are the same.
  The load ends by building the full-text index, as the server's indexer
  would have done shortly after each delivery.

Both take a list of ``(user, Corpus)`` so several users can be filled at
once.  ``--cache``-style reuse is in :func:`cached`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import Corpus  # noqa: E402
from bench.servers import REPO_ROOT, DovecotServer, HivemailServer  # noqa: E402

_MAILDIR_LETTER = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}


def write_maildir(maildir: Path, corpus: Corpus, uid: int, gid: int) -> None:
    """All of *corpus* as maildir files in ``maildir/cur`` (no fsync)."""
    for d in (maildir, maildir / "cur", maildir / "new", maildir / "tmp"):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(d, uid, gid)
    cur = maildir / "cur"
    chown = os.getuid() == 0
    for i in range(corpus.count):
        m = corpus.message(i)
        lf = m.raw.replace(b"\r\n", b"\n")
        letters = "".join(sorted(_MAILDIR_LETTER[f] for f in m.flags))
        ts = int(m.internal_date)
        # The index in the name keeps cur/ sorted in corpus order, which is
        # the order Dovecot assigns UIDs in when it indexes or imports.
        name = f"{ts}.M{i:07d}P{os.getpid()}.bench,S={len(lf)},W={len(m.raw)}:2,{letters}"
        path = cur / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, lf)
            if chown:
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
        os.utime(path, (ts, ts))


def populate_dovecot(server: DovecotServer, boxes: list[tuple[str, Corpus]]) -> float:
    """Fill each user's INBOX; returns the seconds it took.  Users must have
    been added.  ``doveadm import`` needs the auth service, so for sdbox and
    mdbox the server is started if it is not running (and left running)."""
    t0 = time.monotonic()
    if server.process is None and server.mail_format != "maildir":
        server.start()
    for user, corpus in boxes:
        uid, gid = server._mail_ids(user)
        home = server.home(user)
        home.mkdir(mode=0o700, exist_ok=True)
        os.chown(home, uid, gid)
        if server.mail_format == "maildir" and server.mail_location == "maildir:~/Maildir":
            write_maildir(home / "Maildir", corpus, uid, gid)
            continue
        stage = home / "import-maildir"
        write_maildir(stage, corpus, uid, gid)
        try:
            server.import_maildir(user, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return time.monotonic() - t0


# -- hivemail --------------------------------------------------------------

_CORPORA: dict[tuple, Corpus] = {}


def _corpus(spec: dict) -> Corpus:
    key = tuple(sorted(spec.items()))
    if key not in _CORPORA:
        _CORPORA[key] = Corpus(**spec)
    return _CORPORA[key]


def _analyse_range(spec: dict, start: int, stop: int) -> list[tuple]:
    """Worker process: (i, raw, analysis, flags, date) for messages start..stop."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from hivemail.mime import analyse

    corpus = _corpus(spec)
    out = []
    for i in range(start, stop):
        m = corpus.message(i)
        out.append((i, m.raw, analyse(m.raw).to_bytes(), m.flags, m.internal_date))
    return out


def populate_hivemail(server: HivemailServer, boxes: list[tuple[str, Corpus]],
                      jobs: int | None = None) -> float:
    """Deliver every corpus to its user's INBOX in-process through the
    embedded store with fsync off; returns the seconds it took.  The
    accounts must exist and the server must not be running."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from hivemail.mailstore import Recipient
    from hivemail.mailstore.embedded.store import EmbeddedStore

    jobs = max(1, jobs or os.cpu_count() or 1)
    t0 = time.monotonic()
    chunk = 250
    # (box index, start, stop) over all boxes.
    ranges = [(b, s, min(s + chunk, corpus.count))
              for b, (_, corpus) in enumerate(boxes) for s in range(0, corpus.count, chunk)]

    async def load() -> None:
        store = EmbeddedStore(server.data_dir, fsync=False, background_index=False)
        await store.open()
        try:
            loop = asyncio.get_running_loop()
            sem = asyncio.Semaphore(64)
            errors: list[str] = []
            pending: set[asyncio.Task] = set()

            async def one(user: str, raw: bytes, analysis: bytes, flags: tuple[str, ...],
                          date: float) -> None:
                try:
                    [res] = await store.deliver(
                        [Recipient(user, "INBOX", frozenset(flags))], raw, analysis,
                        internal_date=datetime.datetime.fromtimestamp(date, datetime.timezone.utc))
                    if not hasattr(res, "uid"):
                        errors.append(repr(res))
                finally:
                    sem.release()

            # spawn, not fork: this process may already run store threads.
            ctx = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
                def submit(k: int):
                    b, a, z = ranges[k]
                    return loop.run_in_executor(pool, _analyse_range, boxes[b][1].spec(), a, z)

                futures = [submit(k) for k in range(min(len(ranges), 2 * jobs + 2))]
                for k in range(len(ranges)):
                    batch = await futures[k]
                    if len(futures) < len(ranges):
                        futures.append(submit(len(futures)))
                    user = boxes[ranges[k][0]][0]
                    for i, raw, analysis, m_flags, m_date in batch:
                        await sem.acquire()
                        task = asyncio.create_task(one(user, raw, analysis, m_flags, m_date))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                    if errors:
                        raise RuntimeError(f"hivemail bulk load: {errors[0]}")
                if pending:
                    await asyncio.gather(*pending)
            if errors:
                raise RuntimeError(f"hivemail bulk load: {errors[0]}")
            # The search index is part of the stored state: a server builds it
            # in the background shortly after each delivery, so a steady-state
            # server has it; build it here rather than measure the catch-up.
            await store.update_search_index()
        finally:
            await store.close()

    asyncio.run(load())
    os.sync()
    return time.monotonic() - t0


# -- caching ---------------------------------------------------------------


def cached(cache: Path | None, key: str, tree: Path, fill) -> tuple[float, str]:
    """Populate *tree* with ``fill()`` or copy it from ``cache/key``.

    Returns (seconds, how).  With a cache, a fresh population is saved there
    (``cp -a``) for later runs, so every run starts from the same state."""
    t0 = time.monotonic()
    if cache is not None and (cache / key / "complete").exists():
        if tree.exists():
            shutil.rmtree(tree)
        subprocess.run(["cp", "-a", str(cache / key / "tree"), str(tree)], check=True, timeout=1800)
        return time.monotonic() - t0, f"copied from cache {cache / key}"
    how = fill()
    seconds = time.monotonic() - t0
    if cache is not None:
        dest = cache / key
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(tree), str(dest / "tree")], check=True, timeout=1800)
        (dest / "complete").write_text("ok\n")
    return seconds, how
