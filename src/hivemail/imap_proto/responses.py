"""Server responses: frozen dataclasses and one pure formatter.

``format_response(resp, ctx)`` turns a response into a list of chunks:
``bytes`` and :class:`FileSegment` (a byte range of a file, for message
bodies the session streams from disk without loading them).  The context
carries what changes the wire form (Stalwart's ``serialize(buf, is_rev2)``):

* ``version``: IMAP4rev1 or IMAP4rev2.  rev2 drops ``* RECENT`` (RFC 9051
  appendix E.1), answers SEARCH with ESEARCH (section 7.3.4) and carries
  mailbox names and quoted strings in UTF-8 (section 5.1);
* ``utf8``: UTF8=ACCEPT was enabled (RFC 6855 section 3): UTF-8 in quoted
  strings and mailbox names.

Without either, mailbox names are modified UTF-7 (RFC 3501 section 5.1.3),
and 8-bit text goes in a literal.

Grammar (RFC 9051 section 9)::

    response-tagged = tag SP resp-cond-state CRLF
    resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
    resp-text       = ["[" resp-text-code "]" SP] [text]
    response-data   = "*" SP (resp-cond-state / resp-cond-bye /
                      mailbox-data / message-data / capability-data /
                      enable-data) CRLF
    continue-req    = "+" SP (resp-text / base64) CRLF
    string          = quoted / literal
    literal         = "{" number64 ["+"] "}" CRLF *CHAR8
    literal8        = "~{" number64 "}" CRLF *OCTET           (RFC 3516)
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from . import utf7
from .dates import format_datetime
from .seqset import SeqSet

__all__ = [
    "Version",
    "FormatContext",
    "FileSegment",
    "LiteralFile",
    "Literal",
    "ResponseCode",
    "Tagged",
    "Continuation",
    "Condition",
    "Exists",
    "Recent",
    "Expunge",
    "Fetch",
    "Flags",
    "ListItem",
    "Status",
    "Search",
    "ESearch",
    "Enabled",
    "Id",
    "Namespace",
    "Capability",
    "Vanished",
    "RawUntagged",
    "FetchLines",
    "Sort",
    "Thread",
    "Quota",
    "QuotaRoot",
    "Untagged",
    "Response",
    "format_response",
    "format_bytes",
]


class Version(enum.Enum):
    REV1 = "IMAP4rev1"
    REV2 = "IMAP4rev2"


@dataclass(frozen=True)
class FormatContext:
    version: Version = Version.REV1
    utf8: bool = False

    @property
    def utf8_strings(self) -> bool:
        """Quoted strings and mailbox names may carry UTF-8."""
        return self.utf8 or self.version is Version.REV2


@dataclass(frozen=True)
class FileSegment:
    """``length`` bytes of ``path`` from offset ``start``: the pump sends them with
    ``loop.sendfile`` or reads them in chunks."""

    path: str
    start: int
    length: int

    def read(self) -> bytes:
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            data = fh.read(self.length)
        if len(data) != self.length:
            raise OSError(f"{self.path}: expected {self.length} bytes at {self.start}, got {len(data)}")
        return data


@dataclass(frozen=True)
class LiteralFile:
    """A FETCH value sent as a literal whose data is a file range (streamed)."""

    path: str
    start: int
    length: int
    binary: bool = False  # literal8 ``~{n}`` (BINARY[] content that may contain NUL)


@dataclass(frozen=True)
class Literal:
    """A FETCH value forced into literal form (message bodies)."""

    data: bytes
    binary: bool = False  # literal8 when the data contains NUL (RFC 3516 section 4.2)


# -- response codes -------------------------------------------------------


@dataclass(frozen=True)
class ResponseCode:
    """resp-text-code: ``name`` plus arguments (RFC 9051 section 7.1).

    Arguments format as: ``int`` -> number, ``str`` -> atom (as is),
    :class:`SeqSet` -> sequence set, tuple -> parenthesized list.
    """

    name: str
    args: tuple[Any, ...] = ()

    @classmethod
    def appenduid(cls, uidvalidity: int, uids: SeqSet | int) -> ResponseCode:
        return cls("APPENDUID", (uidvalidity, uids))

    @classmethod
    def copyuid(cls, uidvalidity: int, source: SeqSet, dest: SeqSet) -> ResponseCode:
        return cls("COPYUID", (uidvalidity, source, dest))

    @classmethod
    def capability(cls, caps: Iterable[str]) -> ResponseCode:
        return cls("CAPABILITY", tuple(caps))

    @classmethod
    def permanentflags(cls, flags: Iterable[str]) -> ResponseCode:
        return cls("PERMANENTFLAGS", (tuple(flags),))

    @classmethod
    def uidvalidity(cls, value: int) -> ResponseCode:
        return cls("UIDVALIDITY", (value,))

    @classmethod
    def uidnext(cls, value: int) -> ResponseCode:
        return cls("UIDNEXT", (value,))

    @classmethod
    def highestmodseq(cls, value: int) -> ResponseCode:
        return cls("HIGHESTMODSEQ", (value,))

    @classmethod
    def badcharset(cls, charsets: Iterable[str] = ()) -> ResponseCode:
        charsets = tuple(charsets)
        return cls("BADCHARSET", (charsets,) if charsets else ())


#: Argument-less codes, e.g. ``Tagged.no(tag, "...", code=TOOBIG)``.
TOOBIG = ResponseCode("TOOBIG")
READ_WRITE = ResponseCode("READ-WRITE")
READ_ONLY = ResponseCode("READ-ONLY")
NONEXISTENT = ResponseCode("NONEXISTENT")
ALREADYEXISTS = ResponseCode("ALREADYEXISTS")
TRYCREATE = ResponseCode("TRYCREATE")
CANNOT = ResponseCode("CANNOT")
INUSE = ResponseCode("INUSE")
OVERQUOTA = ResponseCode("OVERQUOTA")
CLOSED = ResponseCode("CLOSED")
ALERT = ResponseCode("ALERT")
AUTHENTICATIONFAILED = ResponseCode("AUTHENTICATIONFAILED")
PRIVACYREQUIRED = ResponseCode("PRIVACYREQUIRED")
UNAVAILABLE = ResponseCode("UNAVAILABLE")
SERVERBUG = ResponseCode("SERVERBUG")
EXPUNGEISSUED = ResponseCode("EXPUNGEISSUED")
NOPERM = ResponseCode("NOPERM")
LIMIT = ResponseCode("LIMIT")

Code = Union[ResponseCode, str, None]

_DEFAULT_TEXT = {"OK": "Completed", "NO": "Failed", "BAD": "Error in command", "BYE": "Logging out", "PREAUTH": "Logged in"}


# -- responses ------------------------------------------------------------


@dataclass(frozen=True)
class Tagged:
    """tag SP ("OK" / "NO" / "BAD") SP resp-text"""

    tag: str
    status: str
    text: str = ""
    code: Code = None

    @classmethod
    def ok(cls, tag: str, text: str = "", code: Code = None) -> Tagged:
        return cls(tag, "OK", text, code)

    @classmethod
    def no(cls, tag: str, text: str = "", code: Code = None) -> Tagged:
        return cls(tag, "NO", text, code)

    @classmethod
    def bad(cls, tag: str, text: str = "", code: Code = None) -> Tagged:
        return cls(tag, "BAD", text, code)


@dataclass(frozen=True)
class Continuation:
    """continue-req = "+" SP (resp-text / base64).  ``data`` (bytes) is sent base64
    (a SASL challenge, ``+ \\r\\n`` when empty); otherwise ``text``."""

    text: str = ""
    data: bytes | None = None
    code: Code = None


@dataclass(frozen=True)
class Condition:
    """``* OK/NO/BAD/BYE/PREAUTH [code] text``.  Sending BYE moves the core to LOGOUT."""

    status: str
    text: str = ""
    code: Code = None

    @classmethod
    def ok(cls, text: str = "", code: Code = None) -> Condition:
        return cls("OK", text, code)

    @classmethod
    def no(cls, text: str = "", code: Code = None) -> Condition:
        return cls("NO", text, code)

    @classmethod
    def bad(cls, text: str = "", code: Code = None) -> Condition:
        return cls("BAD", text, code)

    @classmethod
    def bye(cls, text: str = "", code: Code = None) -> Condition:
        return cls("BYE", text, code)

    @classmethod
    def preauth(cls, text: str = "", code: Code = None) -> Condition:
        return cls("PREAUTH", text, code)


@dataclass(frozen=True)
class Exists:
    """``* n EXISTS``"""

    count: int


@dataclass(frozen=True)
class Recent:
    """``* n RECENT`` (IMAP4rev1 only: formats to nothing in rev2)."""

    count: int


@dataclass(frozen=True)
class Expunge:
    """``* seq EXPUNGE``"""

    seq: int


FetchValue = Any  # int | str | bytes | None | tuple | datetime | Literal | LiteralFile


@dataclass(frozen=True)
class Fetch:
    """``* seq FETCH (name value ...)``; items in order.

    ``name`` is a str (``"FLAGS"``, ``"BODY[1]<0>"``) or any object with
    ``response_name()`` (a FetchAttribute).  Values: ``int`` -> number,
    ``bytes`` -> pre-formatted (ENVELOPE, BODYSTRUCTURE), ``str`` -> string,
    ``None`` -> NIL, tuple -> list of atoms (FLAGS), ``datetime`` ->
    date-time, :class:`Literal` / :class:`LiteralFile` -> literal.
    """

    seq: int
    items: tuple[tuple[Any, FetchValue], ...]


@dataclass(frozen=True)
class Flags:
    """``* FLAGS (flags)``"""

    flags: tuple[str, ...]


@dataclass(frozen=True)
class ListItem:
    """``* LIST (attrs) "delim" name [extended]`` (or LSUB with ``kind="LSUB"``).

    mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil)
                   SP mailbox [SP mbox-list-extended]
    ``child_info`` gives ``("CHILDINFO" ("SUBSCRIBED"))``; ``old_name`` gives
    ``("OLDNAME" ("old"))`` (RFC 5258, RFC 9051 section 7.3.1).
    """

    mailbox: str
    delimiter: str | None = "/"
    attributes: tuple[str, ...] = ()
    kind: str = "LIST"
    child_info: tuple[str, ...] = ()
    old_name: str | None = None


@dataclass(frozen=True)
class Status:
    """``* STATUS mailbox (ITEM n ...)``"""

    mailbox: str
    items: tuple[tuple[str, int | tuple[str, ...]], ...]


def _status_item(name: str, value: int | tuple[str, ...]) -> bytes:
    """``MESSAGES 3``, or ``MAILBOXID (F1234)`` for a tuple of atoms (RFC 8474)."""
    if isinstance(value, tuple):
        return name.encode("ascii") + b" (" + " ".join(value).encode("ascii") + b")"
    return b"%s %d" % (name.encode("ascii"), value)


@dataclass(frozen=True)
class Search:
    """The result of a SEARCH without RETURN.

    rev1: ``* SEARCH 2 5 [(MODSEQ n)]``.  rev2 has no SEARCH response
    (RFC 9051 section 7.3.4), so the same object formats as
    ``* ESEARCH (TAG "t") [UID] ALL set`` there: give ``tag`` and ``uid``.
    """

    numbers: tuple[int, ...]
    modseq: int | None = None
    tag: str | None = None
    uid: bool = False


@dataclass(frozen=True)
class ESearch:
    """``* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [MODSEQ n]`` (RFC 4731)."""

    tag: str | None = None
    uid: bool = False
    min: int | None = None
    max: int | None = None
    all: SeqSet | None = None
    count: int | None = None
    modseq: int | None = None


@dataclass(frozen=True)
class Enabled:
    """``* ENABLED caps``.  Sending it switches the core to rev2 / UTF-8 as named."""

    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Id:
    """``* ID NIL`` or ``* ID ("name" "hivemail" ...)`` (RFC 2971)."""

    params: tuple[tuple[str, str | None], ...] | None = None


@dataclass(frozen=True)
class Namespace:
    """``* NAMESPACE personal other shared``; each ``None`` (NIL) or ((prefix, delimiter), ...)."""

    personal: tuple[tuple[str, str | None], ...] | None = (("", "/"),)
    other: tuple[tuple[str, str | None], ...] | None = None
    shared: tuple[tuple[str, str | None], ...] | None = None


@dataclass(frozen=True)
class Capability:
    """``* CAPABILITY caps``"""

    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Vanished:
    """``* VANISHED [(EARLIER)] uids`` (RFC 7162 section 3.2.10)."""

    uids: SeqSet
    earlier: bool = False


@dataclass(frozen=True)
class FetchLines:
    """Many untagged FETCH responses already formatted by the caller, each a
    complete ``* n FETCH (...)\r\n`` line: the FETCH fast path for metadata
    of thousands of messages, where building a :class:`Fetch` per message
    would cost more than the data. The caller vouches for the syntax."""

    data: bytes


@dataclass(frozen=True)
class RawUntagged:
    """Escape hatch: ``* `` + ``data`` + CRLF, data pre-formatted (no CR/LF allowed)."""

    data: bytes


@dataclass(frozen=True)
class Quota:
    """``* QUOTA root (NAME usage limit ...)`` (RFC 9208 section 4.2.1)::

        quota-response = "QUOTA" SP quota-root-name SP quota-list
        quota-list     = "(" quota-resource *(SP quota-resource) ")"
        quota-resource = resource-name SP resource-usage SP resource-limit

    ``resources`` may be empty: "()" means no limits (section 4.2.1),
    although the ABNF's quota-list asks for one resource."""

    root: str
    resources: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class QuotaRoot:
    """``* QUOTAROOT mailbox root ...`` (RFC 9208 section 4.2.2)::

        quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)"""

    mailbox: str
    roots: tuple[str, ...]


@dataclass(frozen=True)
class Sort:
    """``* SORT 2 84 882`` (RFC 5256 section 4): numbers in sort order.
    The same in IMAP4rev2, which leaves SORT as it was. ``modseq``: the
    highest MODSEQ of the result, after a MODSEQ criterion (RFC 7162 3.1.9)."""

    numbers: tuple[int, ...]
    modseq: int | None = None


@dataclass(frozen=True)
class Thread:
    """``* THREAD (2)(3 6 (4 23)(44 7 96))`` (RFC 5256 section 4).

    ``threads`` are nested pairs ``(number, children)``: ``number`` None is
    a dummy (a parent not in the result, ``((3)(5))``), ``children`` a
    sequence of pairs. Formatted without recursion (a reply chain may be
    as deep as the mailbox is big)."""

    threads: tuple


#: Every untagged ("* ...") response type.
Untagged = Union[
    Condition, Exists, Recent, Expunge, Fetch, Flags, ListItem, Status,
    Search, ESearch, Enabled, Id, Namespace, Capability, Vanished, RawUntagged, FetchLines,
    Sort, Thread,
    Quota, QuotaRoot,
]

Response = Union[
    Tagged, Continuation, Condition, Exists, Recent, Expunge, Fetch, Flags, ListItem, Status,
    Search, ESearch, Enabled, Id, Namespace, Capability, Vanished, RawUntagged, FetchLines,
    Sort, Thread,
    Quota, QuotaRoot,
]


# -- the writer -------------------------------------------------------------


class _Writer:
    def __init__(self, ctx: FormatContext) -> None:
        self.ctx = ctx
        self.chunks: list[bytes | FileSegment] = []
        self.buf = bytearray()

    def raw(self, data: bytes) -> None:
        self.buf += data

    def text(self, text: str) -> None:
        """Human-readable text: never a CR/LF (response splitting); 7-bit unless UTF-8 is on."""
        clean = text.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
        if self.ctx.utf8_strings:
            self.buf += clean.encode("utf-8", "replace")
        else:
            self.buf += clean.encode("ascii", "replace")

    def literal(self, data: bytes, binary: bool = False) -> None:
        prefix = b"~{" if binary else b"{"
        self.buf += prefix + str(len(data)).encode() + b"}\r\n" + data

    def literal_file(self, value: LiteralFile) -> None:
        prefix = b"~{" if value.binary else b"{"
        self.buf += prefix + str(value.length).encode() + b"}\r\n"
        self.flush()
        if value.length:
            self.chunks.append(FileSegment(value.path, value.start, value.length))

    def string(self, value: str | bytes) -> None:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        # quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR excludes CTL (so CR, LF, NUL).
        if any(b < 0x20 or b == 0x7F for b in data) or len(data) > 4096:
            self.literal(data)
            return
        if any(b >= 0x80 for b in data):
            if not self.ctx.utf8_strings:
                self.literal(data)
                return
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                self.literal(data)
                return
        self.buf += b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'

    def nstring(self, value: str | bytes | None) -> None:
        if value is None:
            self.buf += b"NIL"
        else:
            self.string(value)

    def mailbox(self, name: str) -> None:
        if name.upper() == "INBOX":
            self.buf += b"INBOX"
            return
        self.string(name if self.ctx.utf8_strings else utf7.encode(name))

    def atom(self, value: str) -> None:
        clean = value.encode("ascii", "replace")
        if any(b <= 0x20 or b == 0x7F for b in clean):
            raise ValueError(f"not an atom: {value!r}")
        self.buf += clean

    def code(self, code: Code) -> None:
        if code is None:
            return
        self.buf += b"["
        if isinstance(code, str):
            self.text(code.replace("]", ""))
        else:
            self.atom(code.name)
            for arg in code.args:
                self.buf += b" "
                self.code_arg(arg)
        self.buf += b"] "

    def code_arg(self, arg: Any) -> None:
        if isinstance(arg, bool):
            raise TypeError("bool in a response code")
        if isinstance(arg, int):
            self.buf += str(arg).encode()
        elif isinstance(arg, SeqSet):
            self.buf += arg.to_bytes()
        elif isinstance(arg, str):
            self.atom(arg)
        elif isinstance(arg, (tuple, list)):
            self.buf += b"("
            for i, item in enumerate(arg):
                if i:
                    self.buf += b" "
                self.code_arg(item)
            self.buf += b")"
        else:
            raise TypeError(f"cannot format {type(arg).__name__} in a response code")

    def resp_text(self, status: str, text: str, code: Code) -> None:
        self.code(code)
        self.text(text or _DEFAULT_TEXT.get(status, status))

    def value(self, value: FetchValue) -> None:
        if value is None:
            self.buf += b"NIL"
        elif isinstance(value, bool):
            raise TypeError("bool is not a FETCH value")
        elif isinstance(value, int):
            self.buf += str(value).encode()
        elif isinstance(value, (bytes, bytearray, memoryview)):
            self.buf += bytes(value)
        elif isinstance(value, str):
            self.string(value)
        elif isinstance(value, datetime):
            self.buf += b'"' + format_datetime(value).encode("ascii") + b'"'
        elif isinstance(value, Literal):
            self.literal(value.data, value.binary and 0 in value.data)
        elif isinstance(value, LiteralFile):
            self.literal_file(value)
        elif isinstance(value, (tuple, list)):
            self.buf += b"("
            for i, item in enumerate(value):
                if i:
                    self.buf += b" "
                if isinstance(item, str):
                    self.atom(item)
                else:
                    self.value(item)
            self.buf += b")"
        elif isinstance(value, SeqSet):
            self.buf += value.to_bytes()
        else:
            raise TypeError(f"cannot format {type(value).__name__} as a FETCH value")

    def flag_list(self, flags: Iterable[str]) -> None:
        self.buf += b"("
        for i, flag in enumerate(flags):
            if i:
                self.buf += b" "
            self.atom(flag)
        self.buf += b")"

    def flush(self) -> None:
        if self.buf:
            self.chunks.append(bytes(self.buf))
            self.buf = bytearray()


def _write(w: _Writer, resp: Response) -> None:
    if isinstance(resp, FetchLines):
        w.raw(resp.data)  # complete lines, CRLFs included
        return
    if _body(w, resp):
        w.raw(b"\r\n")


def _body(w: _Writer, resp: Response) -> bool:  # noqa: C901 - one flat dispatch
    """Write one response without its CRLF; False if it has no wire form here."""
    ctx = w.ctx
    match resp:
        case Tagged(tag, status, text, code):
            w.atom(tag)
            w.raw(b" " + status.encode("ascii") + b" ")
            w.resp_text(status, text, code)
        case Continuation(text, data, code):
            w.raw(b"+ ")
            if data is not None:
                w.raw(base64.b64encode(data))
            else:
                w.code(code)
                w.text(text or "Ready")
        case Condition(status, text, code):
            w.raw(b"* " + status.encode("ascii") + b" ")
            w.resp_text(status, text, code)
        case Exists(count):
            w.raw(b"* %d EXISTS" % count)
        case Recent(count):
            if ctx.version is Version.REV2:
                return False
            w.raw(b"* %d RECENT" % count)
        case Expunge(seq):
            w.raw(b"* %d EXPUNGE" % seq)
        case Fetch(seq, items):
            w.raw(b"* %d FETCH (" % seq)
            for i, (name, value) in enumerate(items):
                if i:
                    w.raw(b" ")
                label = name.response_name() if hasattr(name, "response_name") else str(name)
                w.raw(label.encode("ascii"))
                w.raw(b" ")
                w.value(value)
            w.raw(b")")
        case Flags(flags):
            w.raw(b"* FLAGS ")
            w.flag_list(flags)
        case ListItem(mailbox, delimiter, attributes, kind, child_info, old_name):
            w.raw(b"* " + kind.encode("ascii") + b" ")
            w.flag_list(attributes)
            w.raw(b" ")
            if delimiter is None:
                w.raw(b"NIL")
            else:
                w.string(delimiter)
            w.raw(b" ")
            w.mailbox(mailbox)
            extended = []
            if child_info:
                extended.append(("CHILDINFO", child_info))
            if old_name is not None:
                extended.append(("OLDNAME", old_name))
            if extended:
                w.raw(b" (")
                for i, (label, value) in enumerate(extended):
                    if i:
                        w.raw(b" ")
                    w.raw(b'"' + label.encode() + b'" (')
                    if label == "CHILDINFO":
                        w.raw(b" ".join(b'"' + v.encode("ascii") + b'"' for v in value))
                    else:
                        w.mailbox(value)
                    w.raw(b")")
                w.raw(b")")
        case Status(mailbox, items):
            w.raw(b"* STATUS ")
            w.mailbox(mailbox)
            w.raw(b" (" + b" ".join(_status_item(k, v) for k, v in items) + b")")
        case Search(numbers, modseq, tag, uid) if ctx.version is Version.REV2:
            all_set = SeqSet.compact(numbers) if numbers else None
            _body(w, ESearch(tag, uid, all=all_set, modseq=modseq if numbers else None))
        case Search(numbers, modseq):
            w.raw(b"* SEARCH")
            if numbers:  # one join: a SEARCH may name 100,000 messages
                w.raw(b" " + " ".join(map(str, numbers)).encode())
            if modseq is not None and numbers:
                w.raw(b" (MODSEQ %d)" % modseq)
        case ESearch(tag, uid, min_, max_, all_, count, modseq):
            w.raw(b"* ESEARCH")
            if tag is not None:
                w.raw(b" (TAG ")
                w.string(tag)
                w.raw(b")")
            if uid:
                w.raw(b" UID")
            for label, value in (("MIN", min_), ("MAX", max_), ("ALL", all_), ("COUNT", count), ("MODSEQ", modseq)):
                if value is not None:
                    w.raw(b" " + label.encode() + b" " + (value.to_bytes() if isinstance(value, SeqSet) else b"%d" % value))
        case Enabled(caps):
            w.raw(b"* ENABLED")
            for cap in caps:
                w.raw(b" ")
                w.atom(cap)
        case Id(params):
            w.raw(b"* ID ")
            if params is None:
                w.raw(b"NIL")
            else:
                w.raw(b"(")
                for i, (k, v) in enumerate(params):
                    if i:
                        w.raw(b" ")
                    w.string(k)
                    w.raw(b" ")
                    w.nstring(v)
                w.raw(b")")
        case Namespace(personal, other, shared):
            w.raw(b"* NAMESPACE")
            for group in (personal, other, shared):
                w.raw(b" ")
                if group is None:
                    w.raw(b"NIL")
                    continue
                w.raw(b"(")
                for prefix, delim in group:
                    w.raw(b"(")
                    w.string(prefix if ctx.utf8_strings else utf7.encode(prefix))
                    w.raw(b" ")
                    w.nstring(delim)
                    w.raw(b")")
                w.raw(b")")
        case Capability(caps):
            w.raw(b"* CAPABILITY")
            for cap in caps:
                w.raw(b" ")
                w.atom(cap)
        case Vanished(uids, earlier):
            w.raw(b"* VANISHED " + (b"(EARLIER) " if earlier else b"") + uids.to_bytes())
        case Quota(root, resources):
            w.raw(b"* QUOTA ")
            w.string(root)
            w.raw(b" (" + b" ".join(b"%s %d %d" % (n.encode("ascii"), used, limit)
                                    for n, used, limit in resources) + b")")
        case QuotaRoot(mailbox, roots):
            w.raw(b"* QUOTAROOT ")
            w.mailbox(mailbox)
            for root in roots:
                w.raw(b" ")
                w.string(root)
        case Sort(numbers, modseq):
            w.raw(b"* SORT" + b"".join(b" %d" % n for n in numbers))
            if modseq is not None and numbers:
                w.raw(b" (MODSEQ %d)" % modseq)
        case Thread(threads):
            w.raw(b"* THREAD")
            if threads:
                w.raw(b" ")
                _thread_lists(w, threads)
        case RawUntagged(data):
            if b"\r" in data or b"\n" in data:
                raise ValueError("RawUntagged data must not contain CR or LF")
            w.raw(b"* " + data)
        case _:
            raise TypeError(f"not a response: {resp!r}")
    return True


def _thread_lists(w: _Writer, threads) -> None:
    """thread-list    = "(" (thread-members / thread-nested) ")"
    thread-members = nz-number *(SP nz-number) [SP thread-nested]
    thread-nested  = 2*thread-list                      (RFC 5256 section 5)

    A message with one child continues its list ("3 6"); with more, each
    child opens a nested list ("3 (4)(5)"). A dummy writes no number."""
    out = w.buf
    stack: list = []  # nodes to write and closing parentheses, last first
    for node in reversed(threads):
        stack.extend((b")", node, b"("))
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out += item
            continue
        number, children = item
        if number is not None:
            out += b"%d" % number
            if children:
                out += b" "
        if len(children) == 1:
            stack.append(children[0])
        else:
            for child in reversed(children):
                stack.extend((b")", child, b"("))


def format_response(resp: Response, ctx: FormatContext = FormatContext()) -> list[bytes | FileSegment]:
    """Format one response: bytes chunks and file segments, in order.  Pure."""
    w = _Writer(ctx)
    _write(w, resp)
    w.flush()
    return w.chunks


def format_bytes(resp: Response, ctx: FormatContext = FormatContext()) -> bytes:
    """Like :func:`format_response`, reading file segments in (for tests and small uses)."""
    return b"".join(c if isinstance(c, bytes) else c.read() for c in format_response(resp, ctx))
