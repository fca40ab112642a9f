"""Crash safety under a mixed load: what was acknowledged survives ``kill -9``.

One LMTP client delivers into INBOX and several IMAP clients APPEND, STORE,
COPY, MOVE and EXPUNGE, while the whole server (supervisor and workers) is
killed with SIGKILL at random moments and started again, many times. After
each restart, with no load running, everything that was acknowledged is
checked against what the server and the store show:

* every acknowledged message (LMTP 250, APPEND OK, COPY/MOVE OK into the
  target) is there exactly once; an acknowledged MOVE or EXPUNGE took it
  away for good; a command whose answer the kill swallowed may have
  happened or not, but not half (a MOVE leaves the message in exactly one
  of the two mailboxes);
* every message is whole: its body carries its own SHA-256 and the whole
  message must equal what was sent;
* a UID never names two messages, never goes backwards (a UID first seen
  after a restart is at least the UIDNEXT known before), UIDNEXT never
  shrinks below an acknowledged UID, UIDVALIDITY never changes;
* HIGHESTMODSEQ never goes backwards: it is read through the store API (the
  server's STATUS does not return HIGHESTMODSEQ and it has no CONDSTORE) at
  a random moment under load just before each kill, and after the restart
  it must be at least that;
* flags acknowledged by STORE OK are there (each client uses keywords of
  its own, so it can predict its messages' flags exactly);
* ``hivemail check`` reports a clean store, and no process logged a
  traceback.

Every client owns its mailboxes (client 0 also drains INBOX, where LMTP
delivers), so the expected state of each mailbox is exact.

``make test`` runs a short form (about 25 s). ``make soak`` sets
HIVEMAIL_SOAK=1 for minutes; HIVEMAIL_SOAK_SECONDS and HIVEMAIL_SOAK_KILLS
set the length (the loop runs until both are reached, within a hard cap of
twice the time) and HIVEMAIL_SOAK_SEED the random seed. The test prints one
summary line (``make soak`` shows it with ``-rP``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import smtplib
import threading
import time
from dataclasses import dataclass, field

import pytest

from tests.consistency.wire import Closed, SyncConnection, fetch_items, is_ok, parse, text_of
from tests.support import postgres
from tests.support.backend import pair
from tests.support.server import HivemailServer, cli

SOAK = os.environ.get("HIVEMAIL_SOAK") == "1"
SECONDS = float(os.environ.get("HIVEMAIL_SOAK_SECONDS", 600 if SOAK else 20))
MIN_KILLS = int(os.environ.get("HIVEMAIL_SOAK_KILLS", 100 if SOAK else 5))
SEED = int(os.environ.get("HIVEMAIL_SOAK_SEED", time.time_ns() % 1_000_000 if SOAK else 20261127))
HARD_CAP = 2 * SECONDS + 60           # the loop never runs longer than this
MAX_RUNS = 20 * MIN_KILLS + 1000       # nor more often than this

pytestmark = [pytest.mark.xdist_group("soak"), pytest.mark.slow, pytest.mark.timeout(int(HARD_CAP + 300))]

ACCOUNT = "soak@example.org"
PASSWORD = "pw"
CLIENTS = 3
CAP_PER_CLIENT = 50                    # messages a client keeps in its mailboxes
INBOX_CAP = 60                         # LMTP waits while INBOX holds more
SIZES = (300, 2_000, 20_000, 200_000)
SIZE_WEIGHTS = (6, 3, 2, 0.4)
IGNORED_FLAGS = {"\\Recent"}

SOAK_ID = re.compile(rb"\r\nX-Soak-Id: (\S+)\r\n")
SOAK_SUM = re.compile(rb"\r\nX-Soak-Sum: ([0-9a-f]{64})\r\n")


# -- messages that are their own checksum -----------------------------------

def message(mid: str) -> bytes:
    size = int(mid.rsplit("s", 1)[1])
    rng = random.Random(mid)
    words = [f"{rng.getrandbits(40):x}" for _ in range(64)]
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(8)) + "\r\n"
        lines.append(line)
        total += len(line)
    body = "".join(lines).encode()
    head = (
        f"From: soak@example.net\r\nTo: {ACCOUNT}\r\nSubject: soak {mid}\r\n"
        f"Message-ID: <{mid}@soak.example.net>\r\nX-Soak-Id: {mid}\r\n"
        f"X-Soak-Sum: {hashlib.sha256(body).hexdigest()}\r\n\r\n"
    ).encode()
    return head + body


def damage(mid: str, raw: bytes) -> str | None:
    """Why ``raw`` is not the whole message ``mid``, or None if it is."""
    m, s = SOAK_ID.search(raw), SOAK_SUM.search(raw)
    if not m or not s:
        return "its X-Soak headers are gone"
    if m.group(1).decode() != mid:
        return f"it carries X-Soak-Id {m.group(1).decode()}"
    head, sep, body = raw.partition(b"\r\n\r\n")
    if hashlib.sha256(body).hexdigest().encode() != s.group(1):
        return f"its body ({len(body)} bytes) does not match its checksum"
    # APPEND stores the bytes as sent; LMTP adds trace fields on top.
    if not raw.endswith(message(mid)):
        return f"it differs from what was sent ({len(raw)} bytes)"
    return None


# -- the expected state -------------------------------------------------------

@dataclass
class Entry:
    present: bool | None               # None: a command touching it got no answer
    flags: set[str] = field(default_factory=set)
    unsure: set[str] = field(default_factory=set)   # flags that may be either way


@dataclass
class World:
    mailboxes: list[str]
    expected: dict[str, dict[str, Entry]] = field(default_factory=dict)
    uids: dict[str, dict[str, int]] = field(default_factory=dict)          # mailbox -> id -> uid
    moves: list[tuple[str, str, str]] = field(default_factory=list)        # unanswered MOVEs
    registry: dict[tuple[str, int], dict[int, str]] = field(default_factory=dict)
    uidvalidity: dict[str, int] = field(default_factory=dict)
    uid_floor: dict[str, int] = field(default_factory=dict)               # next UID may not be below
    modseq_floor: dict[str, int] = field(default_factory=dict)
    whole: set[tuple[str, int, int]] = field(default_factory=set)          # bodies already verified
    verified: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name in self.mailboxes:
            self.expected[name] = {}
            self.uids[name] = {}
            self.uid_floor[name] = 1
            self.modseq_floor[name] = 0

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def new_uid(self, mailbox: str, uidvalidity: int, uid: int, mid: str, how: str) -> None:
        """A UID the server just acknowledged (APPENDUID / COPYUID)."""
        with self.lock:
            if uidvalidity != self.uidvalidity.get(mailbox, uidvalidity):
                self.errors.append(f"{how}: {mailbox} UIDVALIDITY {uidvalidity} != {self.uidvalidity[mailbox]}")
            known = self.registry.setdefault((mailbox, uidvalidity), {})
            if uid in known:
                self.errors.append(f"{how}: {mailbox} UID {uid} given to {mid} was {known[uid]}'s")
            if uid < self.uid_floor[mailbox]:
                self.errors.append(f"{how}: {mailbox} UID {uid} for {mid} is below {self.uid_floor[mailbox]}")
            known[uid] = mid
            self.uid_floor[mailbox] = max(self.uid_floor[mailbox], uid + 1)
            self.uids[mailbox][mid] = uid


# -- load -------------------------------------------------------------------

COPYUID = re.compile(rb"\[COPYUID (\d+) (\d+) (\d+)\]")
APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")


def imap_quote(flags) -> str:
    return "(" + " ".join(sorted(flags)) + ")"


class ImapLoad:
    """One IMAP client's loop; returns when the server dies or ``stop`` is set."""

    def __init__(self, world: World, k: int, port: int, stop: threading.Event, seed: int, serial: list[int]) -> None:
        self.w, self.k, self.port, self.stop = world, k, port, stop
        self.rng = random.Random(seed)
        self.serial = serial
        self.own = [f"S{k}a", f"S{k}b", f"S{k}c"]
        self.sources = (["INBOX"] if k == 0 else []) + self.own
        self.keywords = [f"$c{k}k{j}" for j in range(3)] + ["\\Flagged", "\\Seen"]
        self.selected: str | None = None

    def run(self) -> None:
        try:
            self.conn = SyncConnection(self.port)
            _, t = self.conn.command(f"LOGIN {ACCOUNT} {PASSWORD}")
            if not is_ok(t):
                self.w.error(f"client {self.k}: LOGIN {text_of(t)!r}")
                return
            while not self.stop.is_set():
                self.step()
        except Closed:
            pass
        finally:
            if hasattr(self, "conn"):
                self.conn.close()

    def held(self) -> int:
        return sum(len(self.w.expected[m]) for m in self.own)

    def pick(self, mailboxes) -> tuple[str, str, int] | None:
        with self.w.lock:
            choices = [
                (m, mid, self.w.uids[m][mid])
                for m in mailboxes
                for mid, e in self.w.expected[m].items()
                if e.present is True and mid in self.w.uids[m]
            ]
        return self.rng.choice(choices) if choices else None

    def select(self, mailbox: str) -> None:
        if self.selected == mailbox:
            return
        self.selected = None
        _, t = self.conn.command(f"SELECT {mailbox}")
        if not is_ok(t):
            self.w.error(f"client {self.k}: SELECT {mailbox}: {text_of(t)!r}")
            return
        self.selected = mailbox

    def step(self) -> None:
        full = self.held() >= CAP_PER_CLIENT
        inbox = self.k == 0 and len(self.w.expected["INBOX"]) > 10
        weights = {
            "append": 0 if full else 30,
            "store": 20,
            "copy": 0 if full else 10,
            "move": 30 if inbox else 15,
            "expunge": 40 if (full or inbox) else 15,
        }
        op = self.rng.choices(list(weights), list(weights.values()))[0]
        getattr(self, op)()

    def append(self) -> None:
        box = self.rng.choice(self.own)
        size = self.rng.choices(SIZES, SIZE_WEIGHTS)[0]
        with self.w.lock:
            self.serial[0] += 1
            mid = f"a{self.k}n{self.serial[0]}s{size}"
        flags = set(self.rng.sample(self.keywords, self.rng.randint(0, 2)))
        with self.w.lock:
            self.w.expected[box][mid] = Entry(None, set(flags))
        self.w.count("append sent")
        _, t = self.conn.command(f"APPEND {box} {imap_quote(flags)}", message(mid))
        m = APPENDUID.search(t[0])
        if not is_ok(t) or not m:
            self.w.error(f"client {self.k}: APPEND {mid}: {text_of(t)!r}")
            return
        self.w.new_uid(box, int(m.group(1)), int(m.group(2)), mid, "APPEND")
        with self.w.lock:
            self.w.expected[box][mid].present = True
        self.w.count("acknowledged")
        self.w.count("append ok")

    def store(self) -> None:
        got = self.pick(self.sources)
        if got is None:
            return
        box, mid, uid = got
        self.select(box)
        kw = self.rng.choice(self.keywords)
        add = self.rng.random() < 0.6
        with self.w.lock:
            self.w.expected[box][mid].unsure.add(kw)
        _, t = self.conn.command(f"UID STORE {uid} {'+' if add else '-'}FLAGS.SILENT ({kw})")
        if not is_ok(t):
            self.w.error(f"client {self.k}: UID STORE {box} {uid} ({mid}): {text_of(t)!r}")
            return
        with self.w.lock:
            e = self.w.expected[box][mid]
            e.unsure.discard(kw)
            (e.flags.add if add else e.flags.discard)(kw)
        self.w.count("store ok")

    def _transfer(self, move: bool) -> None:
        got = self.pick(self.sources)
        if got is None:
            return
        box, mid, uid = got
        with self.w.lock:
            targets = [m for m in self.own if m != box and mid not in self.w.expected[m]]
        if not targets:
            return
        dst = self.rng.choice(targets)
        self.select(box)
        with self.w.lock:
            src = self.w.expected[box][mid]
            self.w.expected[dst][mid] = Entry(None, set(src.flags), set(src.unsure))
            if move:
                src.present = None
                self.w.moves.append((mid, box, dst))
        verb = "MOVE" if move else "COPY"
        untagged, t = self.conn.command(f"UID {verb} {uid} {dst}")
        lines = [t[0]] + [u[0] for u in untagged]
        m = next((COPYUID.search(x) for x in lines if COPYUID.search(x)), None)
        if not is_ok(t) or not m or int(m.group(2)) != uid:
            self.w.error(f"client {self.k}: UID {verb} {box} {uid} ({mid}) -> {dst}: {[text_of([x]) for x in lines]!r}")
            return
        self.w.new_uid(dst, int(m.group(1)), int(m.group(3)), mid, verb)
        with self.w.lock:
            self.w.expected[dst][mid].present = True
            if move:
                del self.w.expected[box][mid]
                self.w.uids[box].pop(mid, None)
                self.w.moves.remove((mid, box, dst))
        self.w.count("move ok" if move else "copy ok")

    def copy(self) -> None:
        self._transfer(move=False)

    def move(self) -> None:
        self._transfer(move=True)

    def expunge(self) -> None:
        got = self.pick(self.sources)
        if got is None:
            return
        box, mid, uid = got
        self.select(box)
        with self.w.lock:
            self.w.expected[box][mid].unsure.add("\\Deleted")
        _, t = self.conn.command(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
        if not is_ok(t):
            self.w.error(f"client {self.k}: UID STORE {box} {uid} +\\Deleted: {text_of(t)!r}")
            return
        with self.w.lock:
            e = self.w.expected[box][mid]
            e.unsure.discard("\\Deleted")
            e.flags.add("\\Deleted")
            e.present = None
        untagged, t = self.conn.command(f"UID EXPUNGE {uid}")
        if not is_ok(t) or not any(u[0].endswith(b" EXPUNGE") for u in untagged):
            self.w.error(f"client {self.k}: UID EXPUNGE {box} {uid} ({mid}): {[text_of(u) for u in untagged + [t]]!r}")
            return
        with self.w.lock:
            del self.w.expected[box][mid]
            self.w.uids[box].pop(mid, None)
        self.w.count("expunge ok")


def lmtp_load(world: World, port: int, stop: threading.Event, rng: random.Random, serial: list[int]) -> None:
    try:
        client = smtplib.LMTP("127.0.0.1", port, timeout=20)
        while not stop.is_set():
            if len(world.expected["INBOX"]) >= INBOX_CAP:
                time.sleep(0.05)
                continue
            size = rng.choices(SIZES, SIZE_WEIGHTS)[0]
            with world.lock:
                serial[0] += 1
                mid = f"l{serial[0]}s{size}"
                world.expected["INBOX"][mid] = Entry(None)
            world.count("lmtp sent")
            refused = client.sendmail("soak@example.net", [ACCOUNT], message(mid))
            if refused != {}:
                world.error(f"LMTP {mid}: refused {refused}")
                continue
            with world.lock:
                world.expected["INBOX"][mid].present = True
            world.count("acknowledged")
            world.count("lmtp ok")
    except (smtplib.SMTPException, OSError):
        pass


# -- verification -------------------------------------------------------------

def highestmodseqs(data_dir, names: list[str]) -> dict[str, int]:
    """HIGHESTMODSEQ per mailbox, read through the store API. Open only
    while the server runs: a store open in this process would otherwise
    stop the next server start from doing its crash recovery."""
    from hivemail.mailstore import MailError
    from tests.support.backend import open_store

    async def go() -> dict[str, int]:
        store = open_store(data_dir, background_index=False)
        await store.open()
        try:
            return {n: (await store.get_mailbox(ACCOUNT, n)).highestmodseq for n in names}
        finally:
            await store.close()

    # Opening the store writes (it tidies up), and under full load the
    # server's writers may hold the database longer than SQLite waits:
    # that is a TEMP error, worth another try, not a finding.
    for attempt in range(5):
        try:
            return asyncio.run(go())
        except MailError:
            if attempt == 4:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def verify(world: World, server: HivemailServer, label: str) -> None:
    """Compare what the server shows with what was acknowledged, then take
    what it shows as the new expected state."""
    conn = SyncConnection(server.ports["imap"])
    try:
        _, t = conn.command(f"LOGIN {ACCOUNT} {PASSWORD}")
        assert is_ok(t), t
        seen: dict[str, dict[str, tuple[int, set[str]]]] = {}
        for box in world.mailboxes:
            seen[box] = verify_mailbox(world, conn, box, label)
        with world.lock:
            for mid, src, dst in world.moves:
                n = (mid in seen[src]) + (mid in seen[dst])
                if n != 1:
                    world.errors.append(f"{label}: unanswered MOVE of {mid} {src} -> {dst} left it in {n} mailboxes")
            world.moves.clear()
    finally:
        conn.close()


def verify_mailbox(world: World, conn: SyncConnection, box: str, label: str) -> dict[str, tuple[int, set[str]]]:
    untagged, t = conn.command(f"SELECT {box}")
    assert is_ok(t), t
    exists = uidvalidity = uidnext = None
    for u in untagged:
        line = u[0]
        if m := re.match(rb"\* (\d+) EXISTS$", line):
            exists = int(m.group(1))
        if m := re.search(rb"\[UIDVALIDITY (\d+)\]", line):
            uidvalidity = int(m.group(1))
        if m := re.search(rb"\[UIDNEXT (\d+)\]", line):
            uidnext = int(m.group(1))
    assert None not in (exists, uidvalidity, uidnext), untagged
    err = world.errors.append
    if world.uidvalidity.setdefault(box, uidvalidity) != uidvalidity:
        err(f"{label}: {box} UIDVALIDITY {world.uidvalidity[box]} -> {uidvalidity}")
        world.uidvalidity[box] = uidvalidity
    if uidnext < world.uid_floor[box]:
        err(f"{label}: {box} UIDNEXT {uidnext} is below {world.uid_floor[box]} (a UID was acknowledged or seen)")
    observed: list[tuple[int, str, set[str]]] = []
    if exists:
        untagged, t = conn.command("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-SOAK-ID)])")
        assert is_ok(t), t
        for u in untagged:
            tokens = parse(u)
            if len(tokens) < 4 or tokens[2] != "FETCH":
                continue
            items = fetch_items(tokens)
            hdr = next((v for k, v in items.items() if k.startswith("BODY[")), b"")
            m = re.search(rb"X-Soak-Id: (\S+)", hdr if isinstance(hdr, bytes) else str(hdr).encode())
            observed.append((int(items["UID"]), m.group(1).decode() if m else "?", set(items["FLAGS"]) - IGNORED_FLAGS))
        if len(observed) != exists:
            err(f"{label}: {box} EXISTS {exists} but FETCH 1:* returned {len(observed)}")
    registry = world.registry.setdefault((box, uidvalidity), {})
    uids = [uid for uid, _, _ in observed]
    if uids != sorted(set(uids)):
        err(f"{label}: {box} UIDs not strictly ascending: {uids}")
    fresh = []
    for uid, mid, _ in observed:
        if uid >= uidnext:
            err(f"{label}: {box} UID {uid} ({mid}) is not below UIDNEXT {uidnext}")
        if registry.get(uid, mid) != mid:
            err(f"{label}: {box} UID {uid} now names {mid}, was {registry[uid]}")
        if uid not in registry and uid < world.uid_floor[box]:
            err(f"{label}: {box} UID {uid} ({mid}) first seen now is below {world.uid_floor[box]}")
        registry[uid] = mid
        if (box, uidvalidity, uid) not in world.whole:
            fresh.append(uid)
    # New messages are read whole; messages never change, so once is enough.
    for i in range(0, len(fresh), 20):
        batch = fresh[i : i + 20]
        untagged, t = conn.command(f"UID FETCH {','.join(map(str, batch))} (UID BODY.PEEK[])")
        assert is_ok(t), t
        got = {}
        for u in untagged:
            tokens = parse(u)
            if len(tokens) >= 4 and tokens[2] == "FETCH":
                items = fetch_items(tokens)
                got[int(items["UID"])] = items.get("BODY[]")
        for uid in batch:
            mid = registry[uid]
            raw = got.get(uid)
            why = "it cannot be fetched" if not isinstance(raw, bytes) else damage(mid, raw)
            if why:
                err(f"{label}: {box} UID {uid} ({mid}) is damaged: {why}")
            else:
                world.whole.add((box, uidvalidity, uid))
        world.counts["bodies read"] = world.counts.get("bodies read", 0) + len(batch)

    by_id: dict[str, tuple[int, set[str]]] = {}
    for uid, mid, flags in observed:
        if mid in by_id:
            err(f"{label}: {box} holds {mid} twice (UIDs {by_id[mid][0]} and {uid})")
        by_id[mid] = (uid, flags)
    expected = world.expected[box]
    for mid, e in expected.items():
        if e.present is True and mid not in by_id:
            err(f"{label}: {box} lost acknowledged {mid}")
    for mid, (uid, flags) in by_id.items():
        e = expected.get(mid)
        if e is None:
            err(f"{label}: {box} UID {uid} holds {mid}, which should not be there")
            continue
        if e.present is True:
            world.verified.add(mid)
        wrong = (flags ^ e.flags) - e.unsure
        if wrong:
            err(f"{label}: {box} {mid} has flags {sorted(flags)}, acknowledged {sorted(e.flags)} (wrong: {sorted(wrong)})")
    world.expected[box] = {mid: Entry(True, set(flags)) for mid, (uid, flags) in by_id.items()}
    world.uids[box] = {mid: uid for mid, (uid, flags) in by_id.items()}
    world.uid_floor[box] = max(world.uid_floor[box], uidnext)
    return by_id


def check_modseqs(world: World, data_dir, label: str) -> None:
    now = highestmodseqs(data_dir, world.mailboxes)
    for box, hms in now.items():
        if hms < world.modseq_floor[box]:
            world.error(f"{label}: {box} HIGHESTMODSEQ {hms} went back from {world.modseq_floor[box]}")
        world.modseq_floor[box] = max(world.modseq_floor[box], hms)


def check_store(world: World, data_dir, label: str) -> None:
    report = cli(data_dir, "check", check=False)
    out = report.stdout.decode(errors="replace")
    if report.returncode != 0 or "store is clean" not in out:
        world.error(f"{label}: hivemail check: {out.strip()} {report.stderr.decode(errors='replace').strip()}")


# -- the loop ---------------------------------------------------------------

# The two-node case picks its own storage (PostgreSQL in either pass), so it
# runs once, in the first pass (embedded_only: "left out of the PostgreSQL
# pass", as test_migrate and test_two_nodes are).
@pytest.mark.parametrize("nodes", [1, pytest.param(2, marks=pytest.mark.embedded_only)],
                         ids=["one-node", "two-nodes-postgresql"])
def test_acknowledged_work_survives_sigkill_under_mixed_load(tmp_path, nodes):
    """``nodes`` = 2: two servers on one PostgreSQL database (issue 9), the
    load spread over both, one node (now and then both) killed at a time."""
    dirs = [tmp_path / "data"] + [tmp_path / f"data{n}" for n in range(1, nodes)]
    if nodes > 1:
        url = postgres.fresh_url()
        for d in dirs:
            pair(d, url)
    data = dirs[0]
    (tmp_path / "soak.toml").write_text("[auth]\nfailure_delay = 0.01\n")
    extra = ("--config", str(tmp_path / "soak.toml"))
    cli(data, "user", "add", ACCOUNT, "--password", PASSWORD)
    mailboxes = ["INBOX"] + [f"S{k}{x}" for k in range(CLIENTS) for x in "abc"]
    world = World(mailboxes)
    rng = random.Random(SEED)
    serials = [[0] for _ in range(CLIENTS)] + [[0]]

    def start(d) -> HivemailServer:
        return HivemailServer(d, listeners=("imap", "lmtp"), extra=extra).start()

    servers = [start(d) for d in dirs]
    conn = SyncConnection(servers[0].ports["imap"])
    conn.command(f"LOGIN {ACCOUNT} {PASSWORD}")
    for box in mailboxes[1:]:
        _, t = conn.command(f"CREATE {box}")
        assert is_ok(t), t
    conn.close()

    started = time.monotonic()
    runs = kills = 0
    try:
        while runs < MAX_RUNS:
            elapsed = time.monotonic() - started
            if (elapsed >= SECONDS and kills >= MIN_KILLS) or elapsed >= HARD_CAP:
                break
            runs += 1
            label = f"run {runs}"
            verify(world, servers[rng.randrange(nodes)], label)
            check_modseqs(world, data, label)
            check_store(world, data, label)

            stop = threading.Event()
            loads = [
                threading.Thread(target=ImapLoad(world, k, servers[rng.randrange(nodes)].ports["imap"], stop,
                                                 rng.getrandbits(32), serials[k]).run)
                for k in range(CLIENTS)
            ]
            loads.append(threading.Thread(target=lmtp_load, args=(
                world, servers[rng.randrange(nodes)].ports["lmtp"], stop, random.Random(rng.getrandbits(32)),
                serials[-1])))
            for t in loads:
                t.start()
            time.sleep(rng.uniform(0.3, 2.5))
            # Committed a moment before the kill: must survive it.
            check_modseqs(world, data, label)
            time.sleep(rng.uniform(0, 0.2))
            # One node at a time (the others keep serving), now and then all.
            victims = range(nodes) if nodes == 1 or rng.random() < 0.2 else [rng.randrange(nodes)]
            for n in victims:
                servers[n].kill()
            kills += 1
            stop.set()
            for t in loads:
                t.join(60)
                assert not t.is_alive(), "a load thread hangs after the kill"
            for n in victims:
                if servers[n].tracebacks():
                    world.error(f"{label}: tracebacks:\n" + "\n".join(servers[n].log[-40:]))
                servers[n] = start(dirs[n])

        verify(world, servers[0], "final")
        check_modseqs(world, data, "final")
        for server in servers:
            rc = server.stop()
            if rc != 0 or server.tracebacks():
                world.error(f"final: server exited {rc}:\n" + "\n".join(server.log[-40:]))
        check_store(world, data, "final")
    except BaseException:
        # Leave no server behind, and say where it stopped.
        print(f"soak stopped in run {runs} after {kills} kills; errors so far: {world.errors[:10]}")
        for server in servers:
            print("\n".join(server.log[-60:]))
            server.kill()
        raise

    c = world.counts
    summary = (
        f"soak: runs={runs} kills={kills} acknowledged={c.get('acknowledged', 0)} "
        f"verified={len(world.verified)} errors={len(world.errors)} "
        f"(lmtp {c.get('lmtp ok', 0)}/{c.get('lmtp sent', 0)}, append {c.get('append ok', 0)}/{c.get('append sent', 0)}, "
        f"store {c.get('store ok', 0)}, copy {c.get('copy ok', 0)}, move {c.get('move ok', 0)}, "
        f"expunge {c.get('expunge ok', 0)}, bodies read {c.get('bodies read', 0)}, "
        f"{time.monotonic() - started:.0f}s, seed {SEED}, {nodes} node(s))"
    )
    print(summary)
    assert not world.errors, summary + "\n" + "\n".join(world.errors[:30])
    assert kills >= min(MIN_KILLS, 5) and c.get("acknowledged", 0) > kills, summary
