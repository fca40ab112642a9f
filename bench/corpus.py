"""A seeded generator of realistic mail, shared by every benchmark.

``Corpus(count, seed)`` describes a mailbox of *count* messages; message *i*
is ``corpus.message(i)``, the same bytes, flags and internal date every time
for the same parameters, so Dovecot and hivemail get identical mail.

What the messages look like:

* headers as real mail has them: Return-Path, two Received, From/To with
  display names (some RFC 2047, UTF-8 names), some Cc, Subject (some RFC
  2047), Date, Message-ID, List-Id on a fifth, MIME-Version, Content-Type;
* **threads**: about a third are replies.  A reply's parent is one of the
  40 messages before it; it has ``In-Reply-To``, ``References`` (the chain
  up to the thread's root, at most 10) and ``Re: <root subject>``;
* **bodies**: text/plain of 1-12 paragraphs (message sizes from about
  1 KiB); 15 % multipart/alternative (text + HTML);
* **attachments**: a fraction *attachment_rate* (default 5 %) is
  multipart/mixed with one or two base64 attachments (PDF, JPEG, ZIP,
  random bytes) whose size is log-uniform between 4 KiB and
  *max_attachment*, so that no message exceeds *max_size* (1 MiB);
* flags: 30 % unseen, some \\Answered among the seen, 8 % \\Flagged;
  internal dates spread over one year;
* a **rare word**, :data:`RARE_WORD`, planted in the body text of exactly
  ``rare_hits`` messages (default 5) spread over the mailbox, for
  ``SEARCH BODY`` timings; :data:`SUBJECT_WORD` is a common subject word
  for ``SEARCH SUBJECT``.  :meth:`Corpus.rare_indexes` says which messages
  hold the rare word.

Bodies use a random-letter vocabulary (no digits), so the rare word, which
has digits, occurs nowhere else.  Line endings are CRLF.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import math
import random

KIB = 1024
MIB = 1024 * 1024
GENERATOR_VERSION = 2  # bump when the messages change (population cache keys)

RARE_WORD = "quokkafjord42"
SUBJECT_WORD = "quarterly"

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
_ATTACHMENTS = [("application/pdf", "report-{n}.pdf"), ("image/jpeg", "photo-{n}.jpg"),
                ("application/zip", "archive-{n}.zip"),
                ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "sheet-{n}.xlsx")]


@dataclasses.dataclass(frozen=True)
class Message:
    raw: bytes  # CRLF line endings
    flags: tuple[str, ...]  # IMAP system flags
    internal_date: float  # epoch seconds


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
        return "=?UTF-8?B?" + base64.b64encode(name.encode()).decode() + "?="
    return f'"{name}"' if "'" in name else name


def _rfc2822(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%a, %d %b %Y %H:%M:%S +0000")


class Corpus:
    """Messages ``0 .. count-1`` of one mailbox, deterministic from the
    parameters (see the module docstring).  Picklable via :meth:`spec`."""

    BASE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp()

    def __init__(self, count: int, seed: int = 4242, *, to: str = "user@example.test",
                 attachment_rate: float = 0.05, max_attachment: int = 700 * KIB,
                 max_size: int = MIB, rare_hits: int = 5) -> None:
        self.count = count
        self.seed = seed
        self.to = to
        self.attachment_rate = attachment_rate
        self.max_attachment = max_attachment
        self.max_size = max_size
        self.rare_hits = min(rare_hits, count)
        prng = random.Random(seed)
        vocab = ["".join(prng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(prng.randint(2, 10)))
                 for _ in range(800)]
        self.paragraphs = []
        for _ in range(300):
            lines = []
            for _ in range(prng.randint(3, 9)):
                words, width = [], 0
                while True:
                    w = prng.choice(vocab)
                    if width + len(w) + 1 > 72:
                        break
                    words.append(w)
                    width += len(w) + 1
                lines.append(" ".join(words))
            self.paragraphs.append("\r\n".join(lines))
        self._parent: dict[int, int | None] = {}

    def spec(self) -> dict:
        """Constructor arguments: ``Corpus(**spec)`` rebuilds it (for worker
        processes and cache keys)."""
        return {"count": self.count, "seed": self.seed, "to": self.to,
                "attachment_rate": self.attachment_rate, "max_attachment": self.max_attachment,
                "max_size": self.max_size, "rare_hits": self.rare_hits}

    def key(self) -> str:
        """A short name for population caches."""
        return (f"n{self.count}-s{self.seed}-a{self.attachment_rate:g}-m{self.max_attachment}"
                f"-v{GENERATOR_VERSION}")

    # -- structure -------------------------------------------------------

    def rare_indexes(self) -> list[int]:
        if self.rare_hits <= 0:
            return []
        step = self.count / self.rare_hits
        return [int(step * k + step / 2) for k in range(self.rare_hits)]

    def parent(self, i: int) -> int | None:
        """The message *i* replies to, or None for a thread root."""
        if i not in self._parent:
            rng = random.Random(self.seed * 7_919 + i)
            if i > 0 and rng.random() < 0.35:
                self._parent[i] = i - rng.randint(1, min(i, 40))
            else:
                self._parent[i] = None
        return self._parent[i]

    def chain(self, i: int) -> list[int]:
        """Ancestors of *i*, root first."""
        out = []
        p = self.parent(i)
        while p is not None:
            out.append(p)
            p = self.parent(p)
        return out[::-1]

    def subject_of(self, i: int) -> str:
        rng = random.Random(self.seed * 104_729 + i)
        subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 7))).capitalize()
        if rng.random() < 0.1:
            subject = "=?UTF-8?Q?R=C3=A9sum=C3=A9_?= " + subject
        return subject

    def message_id(self, i: int) -> str:
        return f"<m{i}.s{self.seed}@{_DOMAINS[i % len(_DOMAINS)]}>"

    # -- the message -----------------------------------------------------

    def message(self, i: int) -> Message:
        rng = random.Random(self.seed * 1_000_003 + i)
        sent = self.BASE + i * (365 * 86400 / max(self.count, 1)) + rng.randint(0, 200)
        received = sent + rng.randint(1, 30)
        from_name, from_addr = _address(rng)
        from_domain = from_addr.split("@")[1]
        chain = self.chain(i)
        subject = self.subject_of(chain[0] if chain else i)
        if chain:
            subject = "Re: " + subject
        h = [
            f"Return-Path: <{from_addr}>",
            f"Received: from mx{rng.randint(1, 9)}.{from_domain} "
            f"(mx.{from_domain} [192.0.2.{rng.randint(1, 254)}])\r\n"
            f"\tby mail.example.test with ESMTPS id {rng.getrandbits(48):012x}\r\n"
            f"\tfor <{self.to}>; {_rfc2822(received)}",
            f"Received: from [198.51.100.{rng.randint(1, 254)}] by mx.{from_domain}\r\n"
            f"\twith ESMTPSA; {_rfc2822(sent)}",
            f"From: {_display(from_name)} <{from_addr}>",
            f"To: Bench User <{self.to}>",
        ]
        if rng.random() < 0.25:
            cc = [_address(rng) for _ in range(rng.randint(1, 3))]
            h.append("Cc: " + ",\r\n ".join(f"{_display(n)} <{a}>" for n, a in cc))
        h += [f"Subject: {subject}", f"Date: {_rfc2822(sent)}", f"Message-ID: {self.message_id(i)}"]
        if chain:
            refs = [self.message_id(j) for j in chain[-10:]]
            h += [f"In-Reply-To: {refs[-1]}", "References: " + "\r\n ".join(refs)]
        if rng.random() < 0.2:
            h.append(f"List-Id: <{rng.choice(_LISTS)}>")
        h.append("MIME-Version: 1.0")

        paragraphs = [rng.choice(self.paragraphs) for _ in range(rng.randint(2, 12))]
        if i in self.rare_indexes():
            paragraphs.insert(len(paragraphs) // 2, f"Remember the {RARE_WORD} plan before Friday.")
        if chain:
            quoted = "\r\n".join("> " + line for line in paragraphs[0].split("\r\n")[:4])
            paragraphs.append(f"On {_rfc2822(sent - 3600)}, someone wrote:\r\n{quoted}")
        text = f"Message {i}.\r\n\r\n" + "\r\n\r\n".join(paragraphs) + "\r\n"

        kind = rng.random()
        if kind < self.attachment_rate:
            boundary = f"=_m{rng.getrandbits(40):010x}"
            h.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
            parts = [f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     f"Content-Transfer-Encoding: 7bit\r\n\r\n{text}"]
            budget = self.max_size - len(text) - 2 * KIB
            for n in range(rng.randint(1, 2)):
                # Log-uniform size; base64 grows it by 4/3 plus line ends.
                size = int(math.exp(rng.uniform(math.log(4 * KIB), math.log(self.max_attachment))))
                size = max(KIB, min(size, int(budget * 0.72)))
                if budget < 8 * KIB:
                    break
                ctype, fname = rng.choice(_ATTACHMENTS)
                fname = fname.format(n=i * 10 + n)
                data = base64.encodebytes(rng.randbytes(size)).decode("ascii").replace("\n", "\r\n")
                budget -= len(data) + 300
                parts.append(f"--{boundary}\r\nContent-Type: {ctype}; name=\"{fname}\"\r\n"
                             f"Content-Disposition: attachment; filename=\"{fname}\"\r\n"
                             f"Content-Transfer-Encoding: base64\r\n\r\n{data}")
            body = "".join(parts) + f"--{boundary}--\r\n"
        elif kind < self.attachment_rate + 0.15:
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

    def quick_stats(self) -> dict[str, float]:
        """The counts that need no message bodies generated (fast for 100k)."""
        subject_hits = 0
        for i in range(self.count):
            chain = self.chain(i)
            subject_hits += SUBJECT_WORD in self.subject_of(chain[0] if chain else i).lower()
        return {"messages": self.count, "rare_hits": len(self.rare_indexes()),
                "subject_hits": subject_hits}

    def stats(self) -> dict[str, float]:
        """Counts the mailbox should show (computed, not assumed)."""
        unseen = size = flagged = attached = biggest = 0
        smallest = 1 << 62
        subject_hits = 0
        for i in range(self.count):
            m = self.message(i)
            size += len(m.raw)
            biggest = max(biggest, len(m.raw))
            smallest = min(smallest, len(m.raw))
            unseen += "\\Seen" not in m.flags
            flagged += "\\Flagged" in m.flags
            attached += b"multipart/mixed" in m.raw[:4096]
            chain = self.chain(i)
            subject_hits += SUBJECT_WORD in self.subject_of(chain[0] if chain else i).lower()
        return {"messages": self.count, "unseen": unseen, "flagged": flagged,
                "with_attachments": attached, "mean_size": size / max(self.count, 1),
                "min_size": smallest, "max_size": biggest, "total_mib": size / MIB,
                "rare_hits": len(self.rare_indexes()), "subject_hits": subject_hits}


if __name__ == "__main__":
    import sys

    c = Corpus(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
    print(c.stats())
