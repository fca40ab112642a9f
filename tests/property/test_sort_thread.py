"""Hypothesis: SORT and THREAD over keys precomputed at delivery equal a
naive reference written here straight from RFC 5256 (and RFC 5957).

The system side is what the server runs: ``keys_from_bytes`` (the store's
delivery-time computation), the store's row encoding (``_keys_row`` /
``_sort_keys_of``), ``handlers.sort.sort_order`` and ``mailstore.threads``.
The reference re-reads every message with Python's ``email`` package, not
with hivemail's MIME parser, and implements base-subject extraction and the
REFERENCES algorithm on its own (recursively; the mailboxes are small).

Interpretations both sides share (the RFC leaves them open): THREAD works
on the searched messages only; in step 1.B the old parent link is broken
even when the new one would loop.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import functools
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemail.imap.handlers.sort import sort_order
from hivemail.imap_proto.commands.sort import SortCriterion
from hivemail.mailstore import threads
from hivemail.mailstore.rows import keys_row as _keys_row, sort_keys_of as _sort_keys_of
from hivemail.mailstore.sortkeys import keys_from_bytes
from hivemail.mime import analyse, normalise_crlf

# -- random mailboxes -------------------------------------------------------------

PREFIXES = ["", "", "", "Re: ", "RE:", "re : ", "Fwd: ", "fw:", "FWD [x]:", "[list] ", "[a][b] ", "  ", "[list] Re: "]
BASES = ["hello", "Hello", "hello", "HELLO  world", "other topic", "", "x", "[only]", "Re", "café"]
SUFFIXES = ["", "", "", " (fwd)", "  ", "(FWD)", " (fwd) "]
IDS = [f"id{i}@example.org" for i in range(6)]
ADDRESSES = ["Ann <ann@x.org>", "bob@y.org", "=?utf-8?q?=C3=89mile?= <emile@z.org>", "_under@x.org",
             '"Zed, Z" <zed@x.org>', "Amy Example <AMY@x.org>", "carl@x.org (Carl C)"]
DATES = ["Mon, 1 Jan 2024 10:00:00 +0000", "Mon, 1 Jan 2024 06:00:00 -0500", "Tue, 2 Jan 2024 10:00:00 +0100",
         "1 Jan 2024 11:00:00 +0000", "garbage", "Sun, 31 Dec 2023 23:59:59 -0000"]


@st.composite
def subjects(draw) -> str:
    s = draw(st.sampled_from(PREFIXES)) + draw(st.sampled_from(BASES)) + draw(st.sampled_from(SUFFIXES))
    if draw(st.booleans()) and draw(st.booleans()):
        s = f"[fwd: {s}]" + draw(st.sampled_from(SUFFIXES))
    if draw(st.booleans()) and not draw(st.booleans()) and s.isascii() and s.strip():
        s = email.header.Header(s, "utf-8").encode()  # an RFC 2047 encoded word
    return s


def msg_id(draw) -> str:
    ident = draw(st.sampled_from(IDS))
    local, host = ident.split("@")
    return draw(st.sampled_from([f"<{ident}>", f'<"{local}"@{host}>', f"< {ident} >"]))


@st.composite
def messages(draw) -> bytes:
    lines = []
    for name, values in (("From", ADDRESSES), ("To", ADDRESSES), ("Cc", ADDRESSES), ("Date", DATES)):
        if draw(st.booleans()):
            lines.append(f"{name}: {draw(st.sampled_from(values))}")
    if draw(st.integers(0, 3)):
        lines.append(f"Subject: {draw(subjects())}")
    choice = draw(st.integers(0, 4))
    if choice == 1:
        lines.append("Message-ID: <no-at-sign>")
    elif choice > 1:
        lines.append(f"Message-ID: {msg_id(draw)}")
    if draw(st.booleans()):
        refs = [msg_id(draw) for _ in range(draw(st.integers(0, 4)))]
        lines.append("References: " + (" ".join(refs) if refs else "junk"))
    if draw(st.booleans()):
        lines.append(f"In-Reply-To: {msg_id(draw)} {msg_id(draw)}")
    body = "x" * draw(st.integers(0, 40))
    return normalise_crlf(("\n".join(lines) + "\n\n" + body + "\n").encode())


mailboxes = st.lists(st.tuples(messages(), st.integers(1_700_000_000, 1_700_000_100)), min_size=0, max_size=12)
criteria = st.lists(st.tuples(st.sampled_from(["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
                                                "DISPLAYFROM", "DISPLAYTO"]), st.booleans()),
                    min_size=1, max_size=3)


# -- the reference, from the RFC text ---------------------------------------------

def casemap(s: str) -> str:
    """i;unicode-casemap (RFC 5051): simple titlecase, then decomposition."""
    return unicodedata.normalize("NFD", "".join(c.title() if len(c.title()) == 1 else c for c in s))


def ref_base_subject(subject: str) -> tuple[str, bool]:
    """RFC 5256 section 2.1, one rule at a time, character by character."""
    s = " ".join(subject.replace("\t", " ").replace("\r\n", " ").split(" "))
    while "  " in s:
        s = s.replace("  ", " ")
    reply = False

    def blob(t: str, i: int) -> int | None:  # subj-blob at i -> its end
        if i < len(t) and t[i] == "[":
            j = i + 1
            while j < len(t) and t[j] not in "[]":
                j += 1
            if j < len(t) and t[j] == "]":
                j += 1
                while j < len(t) and t[j] == " ":
                    j += 1
                return j
        return None

    def refwd(t: str, i: int) -> int | None:  # subj-refwd at i -> its end
        low = t.lower()
        for word in ("re", "fwd", "fw"):
            if low.startswith(word, i):
                j = i + len(word)
                while j < len(t) and t[j] == " ":
                    j += 1
                b = blob(t, j)
                if b is not None and b < len(t) and t[b] == ":":
                    return b + 1
                if j < len(t) and t[j] == ":":
                    return j + 1
        return None

    while True:
        while True:  # (2)
            if s.endswith(" "):
                s = s[:-1]
            elif s.lower().endswith("(fwd)"):
                s, reply = s[:-5], True
            else:
                break
        while True:  # (5) = repeat (3) and (4)
            changed = False
            while True:  # (3): subj-leader = (*subj-blob subj-refwd) / WSP
                if s.startswith(" "):
                    s, changed = s[1:], True
                    continue
                i, found = 0, None
                while True:
                    end = refwd(s, i)
                    if end is not None:
                        found = end
                        break
                    nxt = blob(s, i)
                    if nxt is None:
                        break
                    i = nxt
                if found is None:
                    break
                s, reply, changed = s[found:], True, True
            end = blob(s, 0)  # (4)
            if end is not None and s[end:].strip(" "):
                s, changed = s[end:], True
            if not changed:
                break
        if s.lower().startswith("[fwd:") and s.endswith("]"):  # (6)
            s, reply = s[5:-1], True
            continue
        return s, reply


def ref_ids(value: str | None) -> list[str]:
    out = []
    for part in (value or "").split("<")[1:]:
        inner, close, _ = part.partition(">")
        inner = inner.strip()
        if close and "@" in inner:
            local, _, host = inner.rpartition("@")
            out.append(local.strip('"') + "@" + host)
    return out


class Ref:
    """One message as the reference sees it, from Python's email package."""

    def __init__(self, raw: bytes, idate: int, seq: int) -> None:
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.seq, self.idate, self.size = seq, idate, len(raw)
        subject = str(email.header.make_header(email.header.decode_header(m["Subject"]))) if m["Subject"] else ""
        base, self.reply = ref_base_subject(subject)
        self.subject = casemap(base)
        try:
            when = email.utils.parsedate_to_datetime(m["Date"]) if m["Date"] else None
        except (TypeError, ValueError):
            when = None
        self.date = int(when.timestamp()) if when is not None else idate  # RFC 5256 2.2
        self.addr, self.display = {}, {}
        for field in ("From", "To", "Cc"):
            pairs = email.utils.getaddresses([m[field]]) if m[field] else []
            name, addr = pairs[0] if pairs else ("", "")
            name = str(email.header.make_header(email.header.decode_header(name))) if name else ""
            self.addr[field] = casemap(addr.split("@")[0])
            self.display[field] = casemap(name or addr)
        ids = ref_ids(m["Message-ID"])
        self.id = ids[0] if ids else None
        self.refs = ref_ids(m["References"]) or ref_ids(m["In-Reply-To"])[:1]

    def value(self, key: str):
        return {"ARRIVAL": self.idate, "DATE": self.date, "SIZE": self.size, "SUBJECT": self.subject,
                "FROM": self.addr["From"], "TO": self.addr["To"], "CC": self.addr["Cc"],
                "DISPLAYFROM": self.display["From"], "DISPLAYTO": self.display["To"]}[key]


def ref_sort(msgs: list[Ref], crit: list[tuple[str, bool]]) -> list[int]:
    def cmp(a: Ref, b: Ref) -> int:
        for key, reverse in crit:
            x, y = a.value(key), b.value(key)
            if x != y:
                return (1 if x > y else -1) * (-1 if reverse else 1)
        return a.seq - b.seq  # the implicit "sequence number" criterion
    return [m.seq for m in sorted(msgs, key=functools.cmp_to_key(cmp))]


def ref_orderedsubject(msgs: list[Ref]) -> list:
    groups: dict[str, list[Ref]] = {}
    for m in sorted(msgs, key=lambda m: (m.subject, m.date, m.seq)):
        groups.setdefault(m.subject, []).append(m)
    out = []
    for g in sorted(groups.values(), key=lambda g: (g[0].date, g[0].seq)):
        out.append((g[0].seq, [(m.seq, []) for m in g[1:]]))
    return out


def ref_references(msgs: list[Ref]) -> list:
    """RFC 5256 section 3 REFERENCES, steps 1-6, with dicts and recursion."""
    parent: dict = {}
    children: dict = {}
    message: dict = {}      # container -> Ref (dummies are absent)
    by_id: dict = {}
    for m in msgs:          # unique IDs: the first message with an ID keeps it
        key = ("id", m.id) if m.id is not None and ("id", m.id) not in by_id else ("msg", m.seq)
        by_id[key] = key
        message[key] = m
        m.key = key

    def get(ident):
        key = ("id", ident)
        by_id.setdefault(key, key)
        return key

    def ancestors(c):
        while c in parent:
            c = parent[c]
            yield c

    def link(p, c):
        if p == c or c in ancestors(p):  # p must not be c or a descendant of c
            return
        parent[c] = p
        children.setdefault(p, []).append(c)

    def unlink(c):
        if c in parent:
            children[parent.pop(c)].remove(c)

    for m in msgs:
        refs = [get(r) for r in m.refs]
        for p, c in zip(refs, refs[1:]):
            if c not in parent:
                link(p, c)
        unlink(m.key)
        if refs:
            link(refs[-1], m.key)

    def date(c):
        if c not in message:
            return date(children[c][0])
        return (message[c].date, message[c].seq)

    def prune(c, top):  # -> what replaces c at its level
        kids = []
        for k in children.get(c, []):
            kids.extend(prune(k, False))
        children[c] = kids
        if c in message:
            return [c]
        if not kids:
            return []
        if top and len(kids) > 1:
            return [c]
        return kids

    root = []
    for c in by_id:
        if c not in parent:
            root.extend(prune(c, True))
    for c in root:
        if c not in message:
            children[c].sort(key=date)
    root.sort(key=date)                                       # (4)

    def subject(c):
        return message[c if c in message else children[c][0]].subject

    def is_reply(c):
        return c in message and message[c].reply

    table = {}
    for c in root:                                            # (5.B)
        s = subject(c)
        if not s:
            continue
        if s not in table:
            table[s] = c
        elif table[s] in message and (c not in message or (is_reply(table[s]) and not is_reply(c))):
            table[s] = c
    new_root = list(root)
    dummies = 0
    for c in root:                                            # (5.C)
        if c not in new_root:
            continue
        s = subject(c)
        if not s or table[s] == c:
            continue
        t = table[s]
        new_root.remove(c)
        if t not in message and c not in message:
            children[t].extend(children[c])
        elif t not in message or (is_reply(c) and not is_reply(t)):
            children.setdefault(t, []).append(c)
        else:
            dummies += 1
            d = ("new dummy", dummies)
            children[d] = [t, c]
            new_root[new_root.index(t)] = d
            table[s] = d

    def build(c):                                             # (6)
        kids = sorted(children.get(c, []), key=date)
        return (message[c].seq if c in message else None, [build(k) for k in kids])
    for c in new_root:
        if c not in message:
            children[c].sort(key=date)
    return [build(c) for c in sorted(new_root, key=date)]


# -- the property -------------------------------------------------------------------

def system_keys(mailbox):
    out = []
    for raw, _idate in mailbox:
        keys, preview = keys_from_bytes(analyse(raw).to_bytes(), raw)
        out.append(_sort_keys_of(_keys_row(keys, preview)))  # as stored and read back
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mailboxes, criteria, st.data())
def test_sort_equals_the_reference(mailbox, crit, data):
    # The search part: a random subset of the mailbox (SEARCH's evaluator
    # has its own property test); sequence numbers keep their gaps.
    picked = sorted(data.draw(st.sets(st.integers(1, max(1, len(mailbox))))) & set(range(1, len(mailbox) + 1)))
    keys = system_keys(mailbox)
    ks = [keys[s - 1] for s in picked]
    idates = [mailbox[s - 1][1] for s in picked]
    sizes = [len(mailbox[s - 1][0]) for s in picked]
    order = sort_order([SortCriterion(k, r) for k, r in crit], ks, idates, sizes)
    got = [picked[i] for i in order]
    refs = [Ref(raw, idate, seq) for seq, (raw, idate) in enumerate(mailbox, 1) if seq in set(picked)]
    assert got == ref_sort(refs, crit)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mailboxes, st.sampled_from(["ORDEREDSUBJECT", "REFERENCES"]), st.data())
def test_thread_equals_the_reference(mailbox, algorithm, data):
    picked = sorted(data.draw(st.sets(st.integers(1, max(1, len(mailbox))))) & set(range(1, len(mailbox) + 1)))
    if data.draw(st.booleans()):
        picked = list(range(1, len(mailbox) + 1))
    keys = system_keys(mailbox)
    ks = [keys[s - 1] for s in picked]
    dates = [k.sent if k.sent is not None else mailbox[s - 1][1] for k, s in zip(ks, picked)]
    subjects = [k.subject for k in ks]
    if algorithm == "ORDEREDSUBJECT":
        got = threads.ordered_subject(picked, dates, subjects)
    else:
        got = threads.references(picked, dates, subjects, [k.reply for k in ks], [k.message_id for k in ks],
                                 [k.references for k in ks])
    refs = [Ref(raw, idate, seq) for seq, (raw, idate) in enumerate(mailbox, 1) if seq in set(picked)]
    expected = ref_orderedsubject(refs) if algorithm == "ORDEREDSUBJECT" else ref_references(refs)
    assert got == expected


def test_the_reference_base_subject_agrees_with_rfc_examples():
    """The reference itself, on the cases section 2.1 is about."""
    assert ref_base_subject("Re: [list] Fwd: Hello (fwd)") == ("Hello", True)
    assert ref_base_subject("[fwd: [x] hi]") == ("hi", True)
    assert ref_base_subject("[only]") == ("[only]", False)
