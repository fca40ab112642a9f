"""ManageSieve responses: frozen dataclasses and one pure formatting function.

Grammar (RFC 5804 section 4)::

    response-ok      = "OK" [SP "(" resp-code ")"] [SP string] CRLF
    response-nobye   = ("NO" / "BYE") [SP "(" resp-code ")"] [SP string] CRLF
    resp-code        = "AUTH-TOO-WEAK" / "ENCRYPT-NEEDED" / "QUOTA"
                       ["/" ("MAXSCRIPTS" / "MAXSIZE")] / resp-code-sasl /
                       resp-code-referral / "TRANSITION-NEEDED" / "TRYLATER" /
                       "ACTIVE" / "NONEXISTENT" / "ALREADYEXISTS" / "WARNINGS" /
                       "TAG" SP string / resp-code-ext
    resp-code-sasl   = "SASL" SP string
    resp-code-referral = "REFERRAL" SP sieveurl
    response-capability = *(single-capability) response-oknobye
    single-capability = capability-name [SP string] CRLF
    response-listscripts = *(sieve-name [SP "ACTIVE"] CRLF) response-oknobye
    response-getscript = (sieve-script CRLF response-ok) / response-nobye
    response-authenticate = *(string CRLF) ((response-ok [response-capability]) /
                            response-nobye)

The *final* responses are :class:`Ok`, :class:`No` and :class:`Bye`; they
end a command.  :class:`Capabilities`, :class:`ScriptList`,
:class:`ScriptContent` and :class:`SaslChallenge` are the data lines that
may precede them.  Strings the server sends are quoted when they can be and
``{n}`` literals otherwise (:func:`~.tokens.format_string`); human-readable
text with a CRLF in it (several error lines from the validator) thus goes
out as a literal, as section 2.6 warns clients to expect.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import ClassVar, Union

from .tokens import format_string

__all__ = [
    "ResponseCode",
    "Ok",
    "No",
    "Bye",
    "Final",
    "Capabilities",
    "ScriptList",
    "ScriptContent",
    "SaslChallenge",
    "Response",
    "format_response",
    "capabilities",
    "AUTH_TOO_WEAK",
    "ENCRYPT_NEEDED",
    "QUOTA",
    "QUOTA_MAXSCRIPTS",
    "QUOTA_MAXSIZE",
    "TRANSITION_NEEDED",
    "TRYLATER",
    "ACTIVE",
    "NONEXISTENT",
    "ALREADYEXISTS",
    "WARNINGS",
]


@dataclass(frozen=True)
class ResponseCode:
    """``(NAME)``, ``(NAME string)`` or ``(REFERRAL sieveurl)``.

    ``name`` is hierarchical with ``/`` ("QUOTA/MAXSIZE"; section 1.3: it
    "MUST NOT start with the Solidus character").  ``string`` is an argument
    sent as a ManageSieve string (SASL, TAG); ``url`` the bare sieveurl of
    REFERRAL.  Use the constants and :meth:`sasl` / :meth:`tag` /
    :meth:`referral`.
    """

    name: str
    string: bytes | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.name or self.name.startswith("/") or not all(c.isalnum() or c in "-/" for c in self.name):
            raise ValueError(f"invalid response code name {self.name!r}")
        if self.url is not None and any(c in self.url for c in " \r\n()\""):
            raise ValueError("a sieveurl has no spaces, quotes, parentheses or line ends")

    @classmethod
    def sasl(cls, data: bytes) -> ResponseCode:
        """``(SASL "base64")``: the final server data in the OK to AUTHENTICATE (section 1.3)."""
        return cls("SASL", base64.b64encode(data))

    @classmethod
    def tag(cls, value: bytes) -> ResponseCode:
        """``(TAG string)``: the NOOP argument echoed back (section 2.13)."""
        return cls("TAG", value)

    @classmethod
    def referral(cls, url: str) -> ResponseCode:
        """``(REFERRAL sieve://host)`` in a BYE (section 1.3)."""
        return cls("REFERRAL", url=url)

    def format(self) -> bytes:
        out = b"(" + self.name.encode("ascii")
        if self.string is not None:
            out += b" " + format_string(self.string)
        if self.url is not None:
            out += b" " + self.url.encode("ascii")
        return out + b")"


AUTH_TOO_WEAK = ResponseCode("AUTH-TOO-WEAK")
ENCRYPT_NEEDED = ResponseCode("ENCRYPT-NEEDED")
QUOTA = ResponseCode("QUOTA")
QUOTA_MAXSCRIPTS = ResponseCode("QUOTA/MAXSCRIPTS")
QUOTA_MAXSIZE = ResponseCode("QUOTA/MAXSIZE")
TRANSITION_NEEDED = ResponseCode("TRANSITION-NEEDED")
TRYLATER = ResponseCode("TRYLATER")
ACTIVE = ResponseCode("ACTIVE")
NONEXISTENT = ResponseCode("NONEXISTENT")
ALREADYEXISTS = ResponseCode("ALREADYEXISTS")
WARNINGS = ResponseCode("WARNINGS")


class Final:
    """Base of the final responses.  ``STATUS`` is ``"OK"``, ``"NO"`` or ``"BYE"``."""

    __slots__ = ()
    STATUS: ClassVar[str] = ""
    text: str | None
    code: ResponseCode | None


@dataclass(frozen=True)
class Ok(Final):
    """``OK [(code)] [text]``.  With ``WARNINGS``, ``text`` holds the warnings."""

    STATUS: ClassVar[str] = "OK"
    text: str | None = None
    code: ResponseCode | None = None


@dataclass(frozen=True)
class No(Final):
    """``NO [(code)] [text]``: the command failed; the connection goes on."""

    STATUS: ClassVar[str] = "NO"
    text: str | None = None
    code: ResponseCode | None = None


@dataclass(frozen=True)
class Bye(Final):
    """``BYE [(code)] [text]``: the server closes the connection (section 1.2)."""

    STATUS: ClassVar[str] = "BYE"
    text: str | None = None
    code: ResponseCode | None = None


@dataclass(frozen=True)
class Capabilities:
    """The capability lines (section 1.7), without the final ``OK``.

    ``items`` are (name, value) pairs in the order sent; ``value`` ``None``
    for a capability without one (STARTTLS, UNAUTHENTICATE).  Build them
    with :func:`capabilities`.
    """

    items: tuple[tuple[str, str | None], ...]

    def __post_init__(self) -> None:
        names = [name.upper() for name, _ in self.items]
        if len(set(names)) != len(names):
            raise ValueError("each capability name can appear at most once (section 1.7)")


@dataclass(frozen=True)
class ScriptList:
    """The LISTSCRIPTS lines (section 2.7): (name, active) pairs, without the final ``OK``."""

    scripts: tuple[tuple[str, bool], ...]

    def __post_init__(self) -> None:
        if sum(1 for _, active in self.scripts if active) > 1:
            raise ValueError("the atom ACTIVE MUST NOT appear on more than one response line")


@dataclass(frozen=True)
class ScriptContent:
    """The GETSCRIPT data (section 2.9): a literal and CRLF, before the final ``OK``."""

    script: bytes

    def __repr__(self) -> str:
        return f"ScriptContent(<{len(self.script)} octets>)"


@dataclass(frozen=True)
class SaslChallenge:
    """A server challenge during AUTHENTICATE: the base64 of ``data`` as a string (section 2.1)."""

    data: bytes


Response = Union[Ok, No, Bye, Capabilities, ScriptList, ScriptContent, SaslChallenge]


def capabilities(
    *,
    implementation: str,
    sasl: tuple[str, ...] | list[str],
    sieve: tuple[str, ...] | list[str],
    starttls: bool = False,
    maxredirects: int | None = None,
    notify: tuple[str, ...] | list[str] = (),
    owner: str | None = None,
    language: str | None = None,
    unauthenticate: bool = True,
    version: str = "1.0",
) -> Capabilities:
    """The capability lines in a fixed order (section 1.7).

    IMPLEMENTATION, SIEVE and VERSION are always sent ("A server
    implementation MUST return SIEVE, IMPLEMENTATION, and VERSION");
    SASL too (its list "can be empty if and only if STARTTLS is also
    advertised").  ``starttls``: advertise it (the caller passes False under
    TLS and after authentication: it "SHOULD NOT be advertised once STARTTLS
    or AUTHENTICATE command completes successfully").  ``notify``: only if
    enotify is implemented.  ``owner``: the authorization identity, only when
    authenticated ("MUST NOT be returned in unauthenticated state").
    """
    if not sasl and not starttls:
        raise ValueError("the SASL list can be empty only if STARTTLS is advertised")
    items: list[tuple[str, str | None]] = [
        ("IMPLEMENTATION", implementation),
        ("SASL", " ".join(sasl)),
        ("SIEVE", " ".join(sieve)),
    ]
    if starttls:
        items.append(("STARTTLS", None))
    if notify:
        items.append(("NOTIFY", " ".join(notify)))
    if maxredirects is not None:
        items.append(("MAXREDIRECTS", str(maxredirects)))
    if language is not None:
        items.append(("LANGUAGE", language))
    if owner is not None:
        items.append(("OWNER", owner))
    if unauthenticate:
        items.append(("UNAUTHENTICATE", None))
    items.append(("VERSION", version))
    return Capabilities(tuple(items))


def _final(response: Final) -> bytes:
    out = response.STATUS.encode("ascii")
    if response.code is not None:
        out += b" " + response.code.format()
    if response.text is not None:
        out += b" " + format_string(response.text)
    return out + b"\r\n"


def format_response(response: Response) -> bytes:
    """The exact bytes of ``response``, CRLF-terminated."""
    match response:
        case Ok() | No() | Bye():
            return _final(response)
        case Capabilities(items):
            out = bytearray()
            for name, value in items:
                out += format_string(name)
                if value is not None:
                    out += b" " + format_string(value)
                out += b"\r\n"
            return bytes(out)
        case ScriptList(scripts):
            out = bytearray()
            for name, active in scripts:
                out += format_string(name)
                if active:
                    out += b" ACTIVE"
                out += b"\r\n"
            return bytes(out)
        case ScriptContent(script):
            # Always a literal: scripts contain CRLFs (and a quoted string
            # would change the octets a client gets back).
            return b"{%d}\r\n" % len(script) + script + b"\r\n"
        case SaslChallenge(data):
            return format_string(base64.b64encode(data)) + b"\r\n"
    raise TypeError(f"not a ManageSieve response: {response!r}")
