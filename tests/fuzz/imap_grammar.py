"""Grammar-aware generation of IMAP commands (RFC 9051 section 9, plus the
extensions the core parses: LITERAL+, CONDSTORE, ESEARCH, MOVE, UNSELECT).

:func:`command` returns ``(wire bytes, command name)`` for a command that is
valid in the SELECTED state; the fuzz target checks that the core accepts
it with exactly that name, then mutates it and checks only that nothing
breaks.  The productions stay on the safe side of the grammar (ASCII
mailbox names without ``&``, which modified UTF-7 would reject in rev1).
"""

from __future__ import annotations

from .sources import Source

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
FLAGS = [b"\\Seen", b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Draft", b"$Forwarded", b"$Junk", b"work"]
ATOM_CHARS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
STRING_CHARS = ATOM_CHARS + b' ()%*"\\{}]+~!#'
TAGS = [b"a", b"A001", b"t.2", b"x_y", b"1", b"tag-9"]


def _word(src: Source, chars: bytes, low: int = 1, high: int = 12) -> bytes:
    return bytes(src.choice(chars) for _ in range(src.integer(low, high)))


def number(src: Source) -> bytes:
    return str(src.choice([1, 2, 7, 42, 4294967295, src.integer(1, 10**6)])).encode()


def seqset(src: Source) -> bytes:
    def one() -> bytes:
        a = src.choice([b"*", number(src)])
        return a + b":" + src.choice([b"*", number(src)]) if src.boolean() else a

    return b",".join(one() for _ in range(src.integer(1, 4)))


def string(src: Source, chars: bytes = STRING_CHARS, *, atom_ok: bool = True) -> bytes:
    """An astring: atom, quoted string, or literal (synchronizing or LITERAL+)."""
    kind = src.integer(0, 3) if atom_ok else src.integer(1, 3)
    if kind == 0:
        return _word(src, ATOM_CHARS)
    text = _word(src, chars, 0, 16)
    if kind == 1:
        return b'"' + text.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d%s}\r\n" % (len(text), b"+" if kind == 2 else b"") + text


def mailbox(src: Source) -> bytes:
    if src.integer(0, 4) == 0:
        return src.choice([b"INBOX", b"inbox", b'"INBOX"'])
    return string(src, ATOM_CHARS + b" /")


def date(src: Source) -> bytes:
    text = b"%d-%s-%d" % (src.integer(1, 28), src.choice(MONTHS).encode(), src.integer(1900, 2100))
    return b'"' + text + b'"' if src.boolean() else text


def flag_list(src: Source) -> bytes:
    return b"(" + b" ".join(src.choice(FLAGS) for _ in range(src.integer(0, 3))) + b")"


SECTIONS = [b"", b"HEADER", b"TEXT", b"1", b"1.2", b"2.MIME", b"1.HEADER", b"HEADER.FIELDS (From To)",
            b"HEADER.FIELDS.NOT (Received)", b"3.HEADER.FIELDS (Subject)"]
SIMPLE_ATTS = [b"FLAGS", b"UID", b"ENVELOPE", b"BODYSTRUCTURE", b"BODY", b"RFC822.SIZE", b"INTERNALDATE",
               b"RFC822.HEADER", b"MODSEQ"]


def fetch_att(src: Source) -> bytes:
    k = src.integer(0, 3)
    if k == 0:
        return src.choice(SIMPLE_ATTS)
    partial = b"<%d.%d>" % (src.integer(0, 100), src.integer(1, 100)) if src.boolean() else b""
    if k == 1:
        return src.choice([b"BODY", b"BODY.PEEK"]) + b"[" + src.choice(SECTIONS) + b"]" + partial
    part = src.choice([b"", b"1", b"1.2"])
    if k == 2:
        return src.choice([b"BINARY", b"BINARY.PEEK"]) + b"[" + part + b"]" + partial
    return b"BINARY.SIZE[" + part + b"]"


def fetch_atts(src: Source) -> bytes:
    if src.integer(0, 4) == 0:
        return src.choice([b"ALL", b"FAST", b"FULL"])
    atts = [fetch_att(src) for _ in range(src.integer(1, 4))]
    if len(atts) == 1 and src.boolean():
        return atts[0]
    return b"(" + b" ".join(atts) + b")"


def search_key(src: Source, depth: int = 0) -> bytes:
    k = src.integer(0, 11 if depth < 3 else 7)
    if k == 0:
        return src.choice([b"ALL", b"SEEN", b"UNSEEN", b"ANSWERED", b"DELETED", b"FLAGGED", b"NEW", b"OLD",
                           b"DRAFT", b"UNDRAFT", b"RECENT"])
    if k == 1:
        return src.choice([b"FROM", b"TO", b"CC", b"BCC", b"SUBJECT", b"BODY", b"TEXT"]) + b" " + string(src)
    if k == 2:
        return src.choice([b"SINCE", b"BEFORE", b"ON", b"SENTSINCE", b"SENTBEFORE", b"SENTON"]) + b" " + date(src)
    if k == 3:
        return src.choice([b"LARGER", b"SMALLER", b"OLDER", b"YOUNGER", b"MODSEQ"]) + b" " + number(src)
    if k == 4:
        return src.choice([b"UID ", b""]) + seqset(src)
    if k == 5:
        # header-fld-name is an astring, but a field name is never empty (RFC 5322 ftext)
        return b"HEADER " + b'"' + _word(src, ATOM_CHARS) + b'" ' + string(src)
    if k == 6:
        return src.choice([b"KEYWORD ", b"UNKEYWORD "]) + _word(src, ATOM_CHARS.replace(b".", b""))
    if k == 7:
        return b"ALL"
    if k == 8:
        return b"NOT " + search_key(src, depth + 1)
    if k == 9:
        return b"OR " + search_key(src, depth + 1) + b" " + search_key(src, depth + 1)
    return b"(" + b" ".join(search_key(src, depth + 1) for _ in range(src.integer(1, 3))) + b")"


def _uid(src: Source, name: str) -> tuple[bytes, str]:
    return (b"UID " + name.encode(), "UID " + name) if src.boolean() else (name.encode(), name)


def command(src: Source) -> tuple[bytes, str]:
    """One command valid in the SELECTED state: (bytes ending in CRLF, name)."""
    tag = src.choice(TAGS)
    k = src.integer(0, 17)
    if k == 0:
        name = src.choice(["NOOP", "CAPABILITY", "CHECK", "EXPUNGE", "NAMESPACE", "UNSELECT", "CLOSE"])
        args = b""
    elif k == 1:
        word, name = _uid(src, "FETCH")
        mod = b" (CHANGEDSINCE %s)" % number(src) if src.integer(0, 3) == 0 else b""
        args = word + b" " + seqset(src) + b" " + fetch_atts(src) + mod
    elif k == 2:
        word, name = _uid(src, "SEARCH")
        ret = src.choice([b"", b"RETURN () ", b"RETURN (MIN MAX) ", b"RETURN (COUNT ALL) "])
        charset = src.choice([b"", b"CHARSET UTF-8 ", b"CHARSET US-ASCII "])
        args = word + b" " + ret + charset + b" ".join(search_key(src) for _ in range(src.integer(1, 3)))
    elif k == 3:
        word, name = _uid(src, "STORE")
        mod = b"(UNCHANGEDSINCE %s) " % number(src) if src.integer(0, 3) == 0 else b""
        op = src.choice([b"FLAGS", b"+FLAGS", b"-FLAGS"]) + src.choice([b"", b".SILENT"])
        args = word + b" " + seqset(src) + b" " + mod + op + b" " + flag_list(src)
    elif k == 4:
        word, name = _uid(src, src.choice(["COPY", "MOVE"]))
        args = word + b" " + seqset(src) + b" " + mailbox(src)
    elif k == 5:
        name = src.choice(["SELECT", "EXAMINE"])
        args = name.encode() + b" " + mailbox(src) + src.choice([b"", b" (CONDSTORE)"])
    elif k == 6:
        name = src.choice(["CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE"])
        args = name.encode() + b" " + mailbox(src)
    elif k == 7:
        name = "RENAME"
        args = b"RENAME " + mailbox(src) + b" " + mailbox(src)
    elif k == 8:
        name = src.choice(["LIST", "LSUB"])
        pattern = src.choice([b"*", b"%", b'""', b"INBOX", b'"a/%"', b"Ar*"])
        args = name.encode() + b" " + src.choice([b'""', b"INBOX", b'"a/"']) + b" " + pattern
    elif k == 9:
        name = "STATUS"
        items = b" ".join(src.choice([b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN", b"SIZE",
                                      b"HIGHESTMODSEQ"]) for _ in range(src.integer(1, 3)))
        args = b"STATUS " + mailbox(src) + b" (" + items + b")"
    elif k == 10:
        name = "APPEND"
        message = b"Subject: " + _word(src, ATOM_CHARS) + b"\r\n\r\n" + _word(src, STRING_CHARS, 0, 40) + b"\r\n"
        flags = b" " + flag_list(src) if src.boolean() else b""
        when = b' "%02d-%s-%d 02:44:25 -0700"' % (src.integer(1, 28), src.choice(MONTHS).encode(),
                                                     src.integer(1990, 2030)) if src.boolean() else b""
        args = b"APPEND " + mailbox(src) + flags + when + b" {%d+}\r\n" % len(message) + message
    elif k == 11:
        name = "UID EXPUNGE"
        args = b"UID EXPUNGE " + seqset(src)
    elif k == 12:
        name = "ENABLE"
        args = b"ENABLE " + src.choice([b"CONDSTORE", b"IMAP4rev2", b"UTF8=ACCEPT", b"QRESYNC", b"X-UNKNOWN"])
    elif k == 13:
        name = "ID"
        args = b"ID " + src.choice([b"NIL", b'("name" "fuzz")', b'("name" "fuzz" "version" NIL)'])
    elif k == 14:
        name = "IDLE"
        return tag + b" IDLE\r\n" + src.choice([b"DONE", b"done"]) + b"\r\n", name
    elif k == 15:
        word, name = _uid(src, "FETCH")
        args = word + b" " + seqset(src) + b" (" + b" ".join(fetch_att(src) for _ in range(src.integer(1, 6))) + b")"
    elif k == 16:
        name = "SEARCH"
        args = b"SEARCH " + search_key(src, 0)
    else:
        name = "LOGOUT"
        args = b"LOGOUT"
    if not args:
        args = name.encode()
    return tag + b" " + args + b"\r\n", name
