"""An imaptest-style consistency checker: several clients, one mailbox,
random commands, and a model of the mailbox in each client built only from
what the server says.

Each :class:`Client` keeps, purely from the server's responses, the list of
message slots in sequence-number order (UID and flags where known), the
EXISTS count, UIDVALIDITY and UIDNEXT, and the UIDs it has seen expunged.
Every untagged response is checked against that model and against RFC 9051
before it is applied; anything that contradicts either is an error with the
client's recent transcript attached. The rules (after Dovecot's imaptest,
``src/client-state.c`` and ``src/mailbox-state.c``):

* ``* n EXPUNGE`` needs 1 <= n <= EXISTS, and may not come while a FETCH,
  STORE or SEARCH (non-UID) is running (RFC 9051 section 7.5.1).
* ``* n EXISTS`` may not be lower than the model's count: only EXPUNGE
  shrinks a mailbox (RFC 9051 section 7.3.1).
* ``* n FETCH`` needs n <= EXISTS; its UID must match the one the model
  knows for n, must lie between the UIDs of its neighbours (UIDs ascend
  with sequence numbers, RFC 9051 section 2.3.1.1) and must not be one the
  client saw expunged.
* Each client stores keywords of its own (``$c<k>k<j>``) that no other
  client touches, so the server must show exactly the keywords the client
  itself stored last, in every FETCH FLAGS and SEARCH KEYWORD answer.
* APPENDUID and COPYUID carry the mailbox's UIDVALIDITY; new UIDs only grow;
  a new SELECT shows the same UIDVALIDITY and a UIDNEXT that did not shrink.

At the end every client sends NOOP and its model must agree with a fresh
SELECT + ``UID FETCH 1:* (UID FLAGS)`` on another connection.

Run by ``tests/consistency/test_checker.py``; also by hand against any
server: ``python -m tests.consistency.checker PORT USER PASSWORD``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import re
import time
from dataclasses import dataclass, field

from tests.consistency.wire import LITERAL_AT_END, fetch_items, parse, text_of

IGNORED = {"\\Recent"}
APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")


class Gone(Exception):
    """The connection ended."""


@dataclass
class Slot:
    uid: int | None = None
    flags: set[str] | None = None


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    commands: collections.Counter = field(default_factory=collections.Counter)
    untagged: collections.Counter = field(default_factory=collections.Counter)

    def summary(self) -> str:
        total = sum(self.commands.values())
        mix = " ".join(f"{k}={v}" for k, v in sorted(self.commands.items()))
        seen = " ".join(f"{k}={v}" for k, v in sorted(self.untagged.items()))
        return f"consistency: commands={total} errors={len(self.errors)} ({mix}; untagged {seen})"


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.tags = 0

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def line(self) -> bytes:
        try:
            data = await self.reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise Gone(str(exc)) from exc
        return data[:-2]

    async def read(self) -> list[bytes]:
        pieces = [await self.line()]
        while m := LITERAL_AT_END.search(pieces[-1]):
            try:
                pieces.append(await self.reader.readexactly(int(m.group(1))))
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise Gone(str(exc)) from exc
            pieces.append(await self.line())
        return pieces

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        try:
            await self.writer.drain()
        except ConnectionError as exc:
            raise Gone(str(exc)) from exc

    def close(self) -> None:
        self.writer.close()


class Client:
    """One connection and its model of the selected mailbox."""

    def __init__(self, k: int, port: int, user: str, password: str, mailbox: str,
                 rng: random.Random, report: Report) -> None:
        self.k, self.port, self.user, self.password, self.mailbox = k, port, user, password, mailbox
        self.rng, self.report = rng, report
        self.keywords = [f"$c{k}k{j}" for j in range(3)]
        self.own: dict[int, set[str]] = {}        # uid -> own keywords last stored
        self.unsure: dict[int, set[str]] = {}     # uid -> own keywords a running STORE may change
        self.slots: list[Slot] = []
        self.expunged: set[int] = set()
        self.max_uid = 0
        self.uidvalidity: int | None = None
        self.uidnext = 0
        self.selected = False
        self.running = ""                          # the command whose responses are being read
        self.log: collections.deque[str] = collections.deque(maxlen=400)
        # Own-keyword mismatches on messages that may already be expunged by
        # another session: forgiven if the message turns out expunged
        # (RFC 2180 section 4.2 lets a STORE on such a message do nothing),
        # errors if it is still there at the end.
        self.suspect: dict[int, str] = {}
        # uid -> own keywords the server has shown since the client's last
        # STORE to it, when they were the ones stored: showing anything else
        # later is an error whatever becomes of the message.
        self.confirmed: dict[int, frozenset[str]] = {}
        # uid -> own keywords shown, in order, while the client's STORE runs.
        self.during_store: dict[int, list[frozenset[str]]] = {}

    # -- errors ----------------------------------------------------------------
    def error(self, text: str, uid: int | None = None, counts: bool = False) -> None:
        self.report.errors.append(self.describe(text, uid, counts))

    def describe(self, text: str, uid: int | None = None, counts: bool = False) -> str:
        """The error with the transcript: the last lines, and before them
        the earlier lines that name ``uid`` (or, with ``counts``, that
        change the message count)."""
        lines = list(self.log)
        tail = lines[-25:]
        if counts:
            about = [ln for ln in lines[:-25] if re.search(r"EXISTS|EXPUNGE|SELECT|CLOSE|FETCH 1:\*", ln)][-30:]
            if about:
                tail = about + ["..."] + tail
        elif uid is not None:
            mark = re.compile(rf"UID {uid}\b|\b{uid}\b")
            about = [ln for ln in lines[:-25] if mark.search(ln) and ("UID" in ln or "APPEND" in ln)][-12:]
            if about:
                tail = about + ["..."] + tail
        transcript = "\n    ".join(tail)
        return f"client {self.k} during {self.running!r}: {text}\n    {transcript}"

    # -- the wire ------------------------------------------------------------
    async def command(self, text: str, literal: bytes | None = None, idle: float | None = None) -> list[bytes]:
        """Run one command; every untagged response goes through :meth:`on_untagged`.
        Returns the tagged response."""
        self.conn.tags += 1
        tag = b"C%d" % self.conn.tags
        self.running = text
        self.report.commands[text.split(" ", 2)[0] if not text.startswith("UID ") else " ".join(text.split(" ", 2)[:2])] += 1
        head = tag + b" " + text.encode()
        if literal is not None:
            head += b" {%d}" % len(literal)
        self.log.append("C: " + head.decode())
        await self.conn.send(head + b"\r\n")
        if literal is not None or idle is not None:
            while True:
                resp = await self.conn.read()
                if resp[0].startswith(b"+"):
                    break
                if resp[0].startswith(tag + b" "):
                    self.log.append("S: " + text_of(resp).decode(errors="replace"))
                    return resp
                self.on_untagged(resp)
            if literal is not None:
                await self.conn.send(literal + b"\r\n")
            else:
                await self._idle(idle)
                self.log.append("C: DONE")
                await self.conn.send(b"DONE\r\n")
        while True:
            resp = await self.conn.read()
            if resp[0].startswith(tag + b" "):
                self.log.append("S: " + text_of(resp).decode(errors="replace")[:300])
                self.running = ""
                return resp
            if resp[0].startswith(b"+"):
                self.error(f"unexpected continuation {resp[0]!r}")
                continue
            self.on_untagged(resp)

    async def _idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                resp = await asyncio.wait_for(self.conn.read(), left)
            except asyncio.TimeoutError:
                return
            self.on_untagged(resp)

    # -- the model ---------------------------------------------------------
    def on_untagged(self, pieces: list[bytes]) -> None:
        self.log.append("S: " + text_of(pieces).decode(errors="replace")[:300])
        line = pieces[0]
        if not line.startswith(b"* "):
            self.error(f"not an untagged response: {line!r}")
            return
        try:
            tokens = parse(pieces)
        except ValueError as exc:
            self.error(f"unparsable: {exc}")
            return
        if len(tokens) >= 3 and tokens[1].isdigit():
            n, kind = int(tokens[1]), tokens[2].upper()
            self.report.untagged[kind] += 1
            if kind == "EXISTS":
                self.on_exists(n)
            elif kind == "EXPUNGE":
                self.on_expunge(n)
            elif kind == "FETCH":
                self.on_fetch(n, fetch_items(tokens))
            elif kind == "RECENT":
                pass
            else:
                self.error(f"unknown response {line!r}")
        elif len(tokens) >= 2 and tokens[1].upper() == "SEARCH":
            self.report.untagged["SEARCH"] += 1
            self.search_result = [int(t) for t in tokens[2:]]
            # For UID SEARCH: the UIDs reported expunged *before* this answer.
            self.search_gone = set(self.search_result) & self.expunged
        elif len(tokens) >= 2 and tokens[1].upper() in ("OK", "NO", "BAD", "BYE", "FLAGS", "CAPABILITY", "LIST", "ESEARCH"):
            self.report.untagged[tokens[1].upper()] += 1
            if tokens[1].upper() in ("NO", "BAD") or (tokens[1].upper() == "BYE" and self.running != "LOGOUT"):
                self.error(f"untagged {line!r}")
        else:
            self.error(f"unknown response {line!r}")

    def on_exists(self, n: int) -> None:
        if n < len(self.slots):
            self.error(f"EXISTS {n} below the {len(self.slots)} messages not yet expunged", counts=True)
            return
        self.slots.extend(Slot() for _ in range(n - len(self.slots)))

    def on_expunge(self, n: int) -> None:
        verb = (self.running.split(" ", 1)[0] or "none").upper()
        if verb in ("FETCH", "STORE", "SEARCH"):
            # RFC 9051 7.5.1: not while a command that uses sequence numbers runs.
            self.error(f"EXPUNGE {n} during {verb}")
        if not 1 <= n <= len(self.slots):
            self.error(f"EXPUNGE {n} but EXISTS is {len(self.slots)}", counts=True)
            return
        slot = self.slots.pop(n - 1)
        if slot.uid is not None:
            self.expunged.add(slot.uid)
            self.own.pop(slot.uid, None)
            self.suspect.pop(slot.uid, None)

    def on_fetch(self, n: int, items: dict[str, object]) -> None:
        if not 1 <= n <= len(self.slots):
            self.error(f"FETCH {n} but EXISTS is {len(self.slots)}", counts=True)
            return
        slot = self.slots[n - 1]
        if "UID" in items:
            uid = int(items["UID"])
            if uid in self.expunged:
                self.error(f"FETCH {n} of UID {uid}, which was expunged before")
            if slot.uid is not None and slot.uid != uid:
                self.error(f"FETCH {n} says UID {uid}, the model says {slot.uid}")
            below = next((s.uid for s in reversed(self.slots[: n - 1]) if s.uid is not None), 0)
            above = next((s.uid for s in self.slots[n:] if s.uid is not None), None)
            if uid <= below or (above is not None and uid >= above):
                self.error(f"FETCH {n} UID {uid} out of order (neighbours {below}, {above})")
            slot.uid = uid
            self.max_uid = max(self.max_uid, uid)
        if "FLAGS" in items:
            flags = set(items["FLAGS"]) - IGNORED
            slot.flags = flags
            if slot.uid is not None:
                self.check_own(slot.uid, flags, f"FETCH {n}")

    def check_own(self, uid: int, flags: set[str], where: str) -> None:
        mine = {f for f in flags if f in self.keywords}
        want = self.own.get(uid, set())
        unsure = self.unsure.get(uid, set())
        if uid in self.during_store:
            self.during_store[uid].append(frozenset(mine))
        if not (mine ^ want) - unsure:
            if not unsure:
                self.confirmed[uid] = frozenset(mine)
            return
        if self.confirmed.get(uid) == frozenset(want):
            self.error(f"{where} UID {uid}: own keywords {sorted(mine)}, but {sorted(want)} were stored "
                       f"and already shown", uid)
            self.confirmed.pop(uid)
        else:
            self.suspect.setdefault(
                uid, self.describe(f"{where} UID {uid}: own keywords {sorted(mine)}, last stored {sorted(want)}", uid))

    # -- commands ------------------------------------------------------------
    async def connect(self) -> None:
        self.conn = await Connection.open(self.port)
        greeting = await self.conn.read()
        assert greeting[0].startswith(b"* OK"), greeting
        t = await self.command(f"LOGIN {self.user} {self.password}")
        assert ok(t), t
        await self.select()

    async def select(self) -> None:
        """SELECT anew: the model starts empty and is rebuilt from the
        responses (EXPUNGE and FETCH may follow the EXISTS already here)."""
        self.slots, self.selected = [], False
        self.running = "SELECT"
        self.conn.tags += 1
        tag = b"C%d" % self.conn.tags
        self.log.append(f"C: {tag.decode()} SELECT {self.mailbox}")
        self.report.commands["SELECT"] += 1
        await self.conn.send(tag + f" SELECT {self.mailbox}\r\n".encode())
        while True:
            resp = await self.conn.read()
            line = resp[0]
            if line.startswith(tag + b" "):
                self.log.append("S: " + text_of(resp).decode(errors="replace")[:300])
                if not ok(resp):
                    self.error(f"SELECT failed: {line!r}")
                break
            if m := UIDVALIDITY.search(line):
                self.log.append("S: " + line.decode(errors="replace"))
                v = int(m.group(1))
                if self.uidvalidity is not None and v != self.uidvalidity:
                    self.error(f"UIDVALIDITY {self.uidvalidity} -> {v}")
                self.uidvalidity = v
            elif m := UIDNEXT.search(line):
                self.log.append("S: " + line.decode(errors="replace"))
                v = int(m.group(1))
                if v < self.uidnext or v <= self.max_uid:
                    self.error(f"UIDNEXT {v} after {self.uidnext} (highest UID seen {self.max_uid})")
                self.uidnext = v
            else:
                self.on_untagged(resp)
        self.running = ""
        self.selected = True

    def some_seqs(self) -> str:
        n = len(self.slots)
        a = self.rng.randint(1, n)
        b = min(n, a + self.rng.randint(0, 4))
        return f"{a}:{b}" if b > a else str(a)

    def known_uids(self) -> list[int]:
        return [s.uid for s in self.slots if s.uid is not None]

    async def step(self) -> None:
        ops = {
            "append": 12 if len(self.slots) < 60 else 2,
            "fetch": 15, "uid_fetch": 10, "store": 15, "uid_store": 15, "delete": 6,
            "expunge": 4, "uid_expunge": 4, "search": 8, "uid_search": 5, "idle": 4,
            "noop": 6, "reselect": 2,
        }
        op = self.rng.choices(list(ops), list(ops.values()))[0]
        await getattr(self, "op_" + op)()

    async def op_append(self) -> None:
        flags = set(self.rng.sample(self.keywords, self.rng.randint(0, 2)))
        if self.rng.random() < 0.3:
            flags.add("\\Seen")
        body = (f"From: c{self.k}@example.net\r\nSubject: checker {self.k}\r\n"
                f"Message-ID: <{time.time_ns()}.{self.k}@checker>\r\n\r\nhello\r\n").encode()
        t = await self.command(f"APPEND {self.mailbox} ({' '.join(sorted(flags))})", literal=body)
        m = APPENDUID.search(t[0])
        if not ok(t) or not m:
            self.error(f"APPEND: {t[0]!r}")
            return
        v, uid = int(m.group(1)), int(m.group(2))
        if v != self.uidvalidity:
            self.error(f"APPENDUID UIDVALIDITY {v} != {self.uidvalidity}")
        if uid <= self.max_uid or uid in self.expunged:
            self.error(f"APPENDUID UID {uid} not above UIDs already seen ({self.max_uid})")
        self.max_uid = max(self.max_uid, uid)
        self.own[uid] = {f for f in flags if f in self.keywords}

    async def op_fetch(self) -> None:
        if self.slots:
            await self.command(f"FETCH {self.some_seqs()} (FLAGS UID)")

    async def op_uid_fetch(self) -> None:
        await self.command("UID FETCH 1:* (UID FLAGS)")

    async def _store(self, uid_form: bool) -> None:
        if not self.slots:
            return
        kw = self.rng.choice(self.keywords)
        mode = self.rng.choice("+-")
        silent = ".SILENT" if self.rng.random() < 0.3 else ""
        if uid_form:
            known = self.known_uids()
            if not known:
                return
            uids = sorted(set(self.rng.sample(known, min(len(known), self.rng.randint(1, 3)))))
            target = ",".join(map(str, uids))
        else:
            seqs = self.some_seqs()
            a, _, b = seqs.partition(":")
            chosen = self.slots[int(a) - 1 : int(b or a)]
            if any(s.uid is None for s in chosen):
                return  # only messages whose UID the client knows, to predict them
            uids = [s.uid for s in chosen]
            target = seqs
        for u in uids:
            self.unsure.setdefault(u, set()).add(kw)
            self.confirmed.pop(u, None)
            self.during_store[u] = []
        t = await self.command(f"{'UID ' if uid_form else ''}STORE {target} {mode}FLAGS{silent} ({kw})")
        for u in uids:
            self.unsure.pop(u, None)
            shown = self.during_store.pop(u, [])
            if u not in self.expunged:
                own = self.own.setdefault(u, set())
                (own.add if mode == "+" else own.discard)(kw)
                want = frozenset(own)
                if want in shown and shown[-1] != want:
                    self.error(f"STORE: UID {u} was shown with own keywords {sorted(want)}, "
                               f"then {sorted(shown[-1])} in the same response", u)
                elif shown and shown[-1] == want:
                    self.confirmed[u] = want
        if not ok(t):
            self.error(f"STORE: {t[0]!r}")
            return
        for s in self.slots:
            if s.uid in uids and s.flags is not None:
                if silent:
                    # .SILENT: no FETCH comes back; the client knows what it did.
                    (s.flags.add if mode == "+" else s.flags.discard)(kw)
                else:
                    # The FETCH (FLAGS) each message got must show the change.
                    self.check_own(s.uid, s.flags, "after STORE")

    async def op_store(self) -> None:
        await self._store(uid_form=False)

    async def op_uid_store(self) -> None:
        await self._store(uid_form=True)

    async def op_delete(self) -> None:
        known = self.known_uids()
        if not known:
            return
        uid = self.rng.choice(known)
        t = await self.command(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
        if not ok(t):
            self.error(f"STORE: {t[0]!r}")
            return
        for s in self.slots:
            if s.uid == uid and s.flags is not None:
                s.flags.add("\\Deleted")

    async def op_expunge(self) -> None:
        t = await self.command("EXPUNGE")
        if not ok(t):
            self.error(f"EXPUNGE: {t[0]!r}")

    async def op_uid_expunge(self) -> None:
        known = self.known_uids()
        if known:
            t = await self.command(f"UID EXPUNGE {self.rng.choice(known)}:{max(known)}")
            if not ok(t):
                self.error(f"UID EXPUNGE: {t[0]!r}")

    async def op_search(self) -> None:
        kw = self.rng.choice(self.keywords)
        self.search_result = None
        t = await self.command(f"SEARCH KEYWORD {kw}")
        if not ok(t) or self.search_result is None:
            self.error(f"SEARCH: {t[0]!r}")
            return
        hits = self.search_result
        if hits != sorted(set(hits)) or any(not 1 <= n <= len(self.slots) for n in hits):
            self.error(f"SEARCH answered {hits} with EXISTS {len(self.slots)}")
            return
        # RFC 9051 7.1: [EXPUNGEISSUED] says messages expunged by another
        # session (not reported yet) may be left out of the result.
        partial = b"[EXPUNGEISSUED]" in t[0].upper()
        for n, s in enumerate(self.slots, 1):
            if s.uid is None or s.uid in self.unsure or (partial and n not in hits):
                continue
            if (n in hits) != (kw in self.own.get(s.uid, set())):
                self.error(f"SEARCH KEYWORD {kw}: {n} (UID {s.uid}) {'found' if n in hits else 'missed'}, "
                           f"own keywords {sorted(self.own.get(s.uid, set()))}")

    async def op_uid_search(self) -> None:
        self.search_result = None
        t = await self.command("UID SEARCH ALL")
        if not ok(t) or self.search_result is None:
            self.error(f"UID SEARCH: {t[0]!r}")
            return
        hits = self.search_result
        if hits != sorted(set(hits)):
            self.error(f"UID SEARCH ALL not ascending: {hits}")
        gone = self.search_gone
        if gone:
            self.error(f"UID SEARCH ALL returned expunged UIDs {sorted(gone)}")

    async def op_idle(self) -> None:
        t = await self.command("IDLE", idle=self.rng.uniform(0.05, 0.4))
        if not ok(t):
            self.error(f"IDLE: {t[0]!r}")

    async def op_noop(self) -> None:
        await self.command("NOOP")

    async def op_reselect(self) -> None:
        if self.rng.random() < 0.5:
            t = await self.command("CLOSE")
        else:
            t = await self.command("UNSELECT")
        if not ok(t):
            self.error(f"{self.running}: {t[0]!r}")
        await self.select()

    async def close(self) -> None:
        try:
            await self.command("LOGOUT")
        except Gone:
            pass
        self.conn.close()


def ok(tagged: list[bytes]) -> bool:
    parts = tagged[0].split(b" ", 2)
    return len(parts) > 1 and parts[1].upper() == b"OK"


async def fresh_view(port: int, user: str, password: str, mailbox: str) -> list[tuple[int, set[str]]]:
    """(UID, flags) in sequence order, as a new connection sees them."""
    probe = Client(-1, port, user, password, mailbox, random.Random(0), Report())
    await probe.connect()
    await probe.command("UID FETCH 1:* (UID FLAGS)")
    await probe.close()
    if probe.report.errors:
        raise AssertionError(probe.report.errors)
    return [(s.uid, s.flags or set()) for s in probe.slots]


async def run(port: int, user: str, password: str, mailbox: str = "INBOX", clients: int = 4,
              seconds: float = 10.0, seed: int = 0, max_commands: int = 1_000_000) -> Report:
    """Run ``clients`` random clients for ``seconds`` (at most ``max_commands``
    commands in all), then cross-check every model with a fresh view."""
    report = Report()
    rng = random.Random(seed)
    group = [Client(k, port, user, password, mailbox, random.Random(rng.getrandbits(32)), report)
             for k in range(clients)]
    for c in group:
        await c.connect()
    deadline = time.monotonic() + seconds
    budget = [max_commands]

    async def drive(c: Client) -> None:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            await c.step()

    await asyncio.gather(*(drive(c) for c in group))
    # Quiet now: each client catches up, then must agree with a fresh look.
    for c in group:
        await c.command("NOOP")
    truth = await fresh_view(port, user, password, mailbox)
    for c in group:
        c.running = "final cross-check"
        if len(c.slots) != len(truth):
            c.error(f"after NOOP the model has {len(c.slots)} messages, a fresh SELECT {len(truth)}")
            continue
        for n, (s, (uid, flags)) in enumerate(zip(c.slots, truth), 1):
            if s.uid is not None and s.uid != uid:
                c.error(f"after NOOP {n} is UID {s.uid} in the model, UID {uid} in a fresh SELECT")
            if s.flags is not None and s.flags != flags:
                c.error(f"after NOOP {n} (UID {uid}) has flags {sorted(s.flags)} in the model, "
                        f"{sorted(flags)} in a fresh SELECT")
            c.check_own(uid, flags, f"fresh SELECT {n}")
        present = {uid for uid, _ in truth}
        c.report.errors.extend(text for uid, text in c.suspect.items() if uid in present)
    for c in group:
        await c.close()
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("port", type=int)
    p.add_argument("user")
    p.add_argument("password")
    p.add_argument("--mailbox", default="INBOX")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    report = asyncio.run(run(a.port, a.user, a.password, a.mailbox, a.clients, a.seconds, a.seed))
    print(report.summary())
    for e in report.errors[:20]:
        print(e)
    raise SystemExit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
