"""FETCH / UID FETCH and the fetch-att grammar  (RFC 9051 section 6.4.5; RFC 3516; RFC 7162).

Grammar (RFC 9051 section 9, RFC 3516 section 4.2, RFC 7162 section 7)::

    fetch           = "FETCH" SP sequence-set SP (
                      "ALL" / "FULL" / "FAST" /
                      fetch-att / "(" fetch-att *(SP fetch-att) ")")
                      [fetch-modifiers]
    fetch-att       = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
                      "RFC822.SIZE" /
                      "BODY" ["STRUCTURE"] / "UID" /
                      "BODY" section [partial] /
                      "BODY.PEEK" section [partial] /
                      "BINARY" [".PEEK"] section-binary [partial] /
                      "BINARY.SIZE" section-binary
    fetch-att       =/ "RFC822" / "RFC822.HEADER" / "RFC822.TEXT"   ; RFC 3501
    fetch-att       =/ "MODSEQ"                                      ; RFC 7162
    fetch-att       =/ "EMAILID" / "THREADID"                        ; RFC 8474
    fetch-att       =/ "SAVEDATE"                                    ; RFC 8514
    fetch-att       =/ "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]
    preview-mod     =  "LAZY"                                        ; RFC 8970
    partial         = "<" number64 "." nz-number64 ">"
    section         = "[" [section-spec] "]"
    section-binary  = "[" [section-part] "]"
    section-spec    = section-msgtext / (section-part ["." section-text])
    section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
    section-part    = nz-number *("." nz-number)
    section-text    = section-msgtext / "MIME"
    header-list     = "(" header-fld-name *(SP header-fld-name) ")"
    fetch-modifier  =/ "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"

The macros ALL, FAST and FULL are expanded here (RFC 9051 section 6.4.5),
and UID FETCH always includes UID (RFC 9051 section 6.4.9: "UID FETCH ...
MUST include UID in its responses").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..grammar import MAX_NUMBER, MAX_NUMBER64, is_astring_chars
from ..seqset import SeqSet
from ..tokens import Args, ArgList, Atom, Lexer, ParseContext, ParseError

__all__ = ["FetchRequest", "FetchAttribute", "Section", "parse_fetch", "parse_uid_fetch", "MACROS"]

SIMPLE_ATTRIBUTES = frozenset(
    {
        "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY", "BODYSTRUCTURE", "UID",
        "RFC822", "RFC822.HEADER", "RFC822.TEXT", "MODSEQ", "EMAILID", "THREADID", "SAVEDATE",
    }
)
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}

_SECTIONED = re.compile(
    r"(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[(.*)\](?:<([0-9]+)\.([0-9]+)>)?",
    re.IGNORECASE | re.DOTALL,
)
_PART = re.compile(r"[1-9][0-9]*(?:\.[1-9][0-9]*)*")


@dataclass(frozen=True)
class Section:
    """A body section: ``part`` numbers (``()`` = the whole message) and a
    ``text`` specifier: ``None``, ``"HEADER"``, ``"HEADER.FIELDS"``,
    ``"HEADER.FIELDS.NOT"``, ``"TEXT"`` or ``"MIME"``.  ``headers`` holds the
    field names of HEADER.FIELDS[.NOT] as sent.
    """

    part: tuple[int, ...] = ()
    text: str | None = None
    headers: tuple[str, ...] = ()

    def __str__(self) -> str:
        pieces = [".".join(map(str, self.part))] if self.part else []
        if self.text:
            pieces.append(self.text)
        spec = ".".join(pieces)
        if self.headers:
            names = " ".join(h if is_astring_chars(h) else _quote(h) for h in self.headers)
            spec += f" ({names})"
        return spec


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class FetchAttribute:
    """One fetch-att.  ``name`` is upper-case: ``FLAGS``, ``BODY``, ``BODY.PEEK``,
    ``BINARY``, ``BINARY.PEEK``, ``BINARY.SIZE``, ``RFC822``, ...  ``section`` is set
    for the bracketed forms (``BODY`` without brackets is the non-extensible
    BODYSTRUCTURE); ``partial`` is ``(start, length)``.
    """

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None

    @property
    def peek(self) -> bool:
        return self.name.endswith(".PEEK")

    @property
    def sets_seen(self) -> bool:
        """Fetching this sets ``\\Seen`` (unless the mailbox is read-only)."""
        if self.section is None:
            return self.name in ("RFC822", "RFC822.TEXT")
        return self.name in ("BODY", "BINARY")

    def response_name(self) -> str:
        """The item name in the FETCH response: ``.PEEK`` dropped, ``<start>`` only
        (RFC 9051 section 7.5.2: "BODY[<section>]<<origin octet>>")."""
        if self.section is None:
            return self.name
        base = self.name.removesuffix(".PEEK")
        text = f"{base}[{self.section}]"
        if self.partial is not None:
            text += f"<{self.partial[0]}>"
        return text

    def __str__(self) -> str:
        if self.section is None:
            return self.name
        text = f"{self.name}[{self.section}]"
        if self.partial is not None:
            text += f"<{self.partial[0]}.{self.partial[1]}>"
        return text


@dataclass(frozen=True)
class FetchRequest:
    """FETCH or UID FETCH (``uid``).  ``changed_since``/``vanished`` are the
    RFC 7162 modifiers (VANISHED only with UID FETCH and CHANGEDSINCE)."""

    seqs: SeqSet
    attributes: tuple[FetchAttribute, ...]
    uid: bool = False
    changed_since: int | None = None
    vanished: bool = False


def _parse_section(args: Args, name: str, inner: str) -> Section:
    binary = name.startswith("BINARY")
    if not inner:
        return Section()
    upper = inner.upper()
    match = _PART.match(inner)
    part: tuple[int, ...] = ()
    rest = upper
    if match:
        try:
            part = tuple(int(p) for p in match.group(0).split("."))
        except ValueError:  # pragma: no cover - regex guarantees digits
            raise args.error(f"invalid section part {inner!r}") from None
        if any(p > MAX_NUMBER for p in part):
            raise args.error(f"section part number too large in {inner!r}")
        rest = upper[match.end():]
        if rest.startswith("."):
            rest = rest[1:]
            if not rest:
                raise args.error(f"invalid section {inner!r}")
        elif rest:
            raise args.error(f"invalid section {inner!r}")
    if binary:
        if rest:
            raise args.error(f"{name} takes only part numbers, got [{inner}]")
        return Section(part)
    if not rest:
        return Section(part)
    if rest in ("HEADER", "TEXT") or (rest == "MIME" and part):
        return Section(part, rest)
    for text in ("HEADER.FIELDS.NOT", "HEADER.FIELDS"):
        if rest.startswith(text + " "):
            offset = len(inner) - len(rest) + len(text) + 1
            return Section(part, text, _header_list(args, inner[offset:]))
        if rest == text:
            raise args.error(f"{text} needs a list of header field names")
    raise args.error(f"invalid section [{inner}]")


def _header_list(args: Args, text: str) -> tuple[str, ...]:
    # header-list = "(" header-fld-name *(SP header-fld-name) ")" ; header-fld-name = astring
    lexer = Lexer(max_nesting=1)
    try:
        marker = lexer.feed_segment(text.encode("ascii"))
        if marker is not None:
            raise ParseError("literals are not supported in header lists")
        items = lexer.finish()
    except ParseError as exc:
        raise args.error(f"invalid header list: {exc.text}") from None
    outer = Args(items, ParseContext(), args.what)
    names = outer.list("a header list")
    outer.end()
    fields = []
    while not names.at_end():
        field = names.astring("a header field name")
        if not field or any(c <= " " or c == ":" or c > "~" for c in field):
            raise args.error(f"invalid header field name {field!r}")
        fields.append(field)
    if not fields:
        raise args.error("empty header list")
    return tuple(fields)


def _parse_attribute(args: Args) -> FetchAttribute:
    word = args.raw_word("a fetch attribute")
    upper = word.upper()
    if upper in SIMPLE_ATTRIBUTES:
        return FetchAttribute(upper)
    if upper == "PREVIEW":
        if isinstance(args.peek(), ArgList):
            mods = args.list("preview modifiers")
            if mods.at_end():
                raise args.error("empty list of preview modifiers")
            while not mods.at_end():
                if mods.keyword("a preview modifier") != "LAZY":
                    raise args.error("unknown preview modifier")
        # Previews are computed at delivery: LAZY (RFC 8970 4.1, "return
        # NIL rather than delay") never needs to return NIL.
        return FetchAttribute("PREVIEW")
    match = _SECTIONED.fullmatch(word)
    if match is None:
        raise args.error(f"unknown fetch attribute {word if len(word) < 60 else word[:57] + '...'}")
    name = match.group(1).upper()
    section = _parse_section(args, name, match.group(2))
    partial = None
    if match.group(3) is not None:
        if name == "BINARY.SIZE":
            raise args.error("BINARY.SIZE does not take a partial range")
        start, length = int(match.group(3)), int(match.group(4))
        if start > MAX_NUMBER64 or length > MAX_NUMBER64 or length == 0:
            raise args.error(f"invalid partial range <{match.group(3)}.{match.group(4)}>")
        partial = (start, length)
    return FetchAttribute(name, section, partial)


def _parse(args: Args, uid: bool) -> FetchRequest:
    seqs = args.seqset("a UID set" if uid else "a sequence set")
    attributes: list[FetchAttribute] = []
    arg = args.peek()
    if isinstance(arg, Atom) and arg.value.upper() in MACROS:
        args.next("a macro")
        attributes = [FetchAttribute(n) for n in MACROS[arg.value.upper()]]
    elif isinstance(arg, ArgList):
        inner = args.list("fetch attributes")
        if inner.at_end():
            raise args.error("empty fetch attribute list")
        while not inner.at_end():
            attributes.append(_parse_attribute(inner))
    else:
        attributes.append(_parse_attribute(args))
    changed_since = None
    vanished = False
    if not args.at_end():
        mods = args.list("fetch modifiers")
        while not mods.at_end():
            name = mods.keyword("a fetch modifier")
            if name == "CHANGEDSINCE" and changed_since is None:
                changed_since = mods.number("a mod-sequence value", bits64=True)
            elif name == "VANISHED" and not vanished:
                vanished = True
            else:
                raise args.error(f"unknown or repeated fetch modifier {name}")
        args.end()
        if vanished and not (uid and changed_since is not None):
            # RFC 7162 section 3.2.6: VANISHED only in UID FETCH with CHANGEDSINCE.
            raise args.error("VANISHED requires UID FETCH with CHANGEDSINCE")
    if uid and not any(a.name == "UID" for a in attributes):
        attributes.insert(0, FetchAttribute("UID"))
    unique = tuple(dict.fromkeys(attributes))
    return FetchRequest(seqs, unique, uid, changed_since, vanished)


def parse_fetch(args: Args) -> FetchRequest:
    return _parse(args, False)


def parse_uid_fetch(args: Args) -> FetchRequest:
    return _parse(args, True)
