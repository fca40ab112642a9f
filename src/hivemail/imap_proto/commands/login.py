"""LOGIN AUTHENTICATE STARTTLS UNAUTHENTICATE  (RFC 9051 sections 6.2.1-6.2.3, RFC 4959, RFC 8437)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ..tokens import Args

__all__ = [
    "LoginRequest",
    "AuthenticateRequest",
    "StartTlsRequest",
    "UnauthenticateRequest",
    "parse_login",
    "parse_authenticate",
    "parse_starttls",
    "parse_unauthenticate",
    "decode_sasl",
]


@dataclass(frozen=True)
class LoginRequest:
    """login = "LOGIN" SP userid SP password ; userid = astring, password = astring"""

    username: str
    password: str


@dataclass(frozen=True)
class AuthenticateRequest:
    """authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]

    initial-resp = (base64 / "=")       (RFC 4959 SASL-IR; "=" is empty)

    ``mechanism`` is upper-cased; ``initial_response`` is the decoded bytes
    (``b""`` for ``=``) or ``None`` when absent.  After this request the
    core reads nothing until the session either calls
    ``conn.expect_auth_line()`` (after sending a continuation) or sends
    the tagged response.
    """

    mechanism: str
    initial_response: bytes | None = None


@dataclass(frozen=True)
class StartTlsRequest:
    """"STARTTLS"  (RFC 9051 section 6.2.1)

    Bytes the client pipelined after STARTTLS are discarded when the tagged
    OK is sent (the STARTTLS command-injection attack, CVE-2011-0411).
    """


@dataclass(frozen=True)
class UnauthenticateRequest:
    """"UNAUTHENTICATE"   (RFC 8437 section 6: command-auth =/ "UNAUTHENTICATE")

    A tagged OK moves the core back to the not-authenticated state and
    IMAP4rev1 without UTF-8 mode: extensions switched on by ENABLE cease
    (RFC 8437 section 4.1).  The client may pipeline LOGIN/AUTHENTICATE
    after it (section 3); under COMPRESS those bytes are no longer
    compressed, so the session takes them (``take_unparsed_input()``)
    before it sends the OK.
    """


def parse_login(args: Args) -> LoginRequest:
    username = args.astring("a user name")
    password = args.astring("a password")
    args.end()
    return LoginRequest(username, password)


def decode_sasl(text: bytes) -> bytes:
    """base64 -> bytes, strictly; ``=`` is the empty response.  Raises ValueError."""
    if text == b"=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64") from None


def parse_authenticate(args: Args) -> AuthenticateRequest:
    mechanism = args.keyword("a SASL mechanism name")
    initial = None
    if not args.at_end():
        raw = args.raw_word("a base64 initial response").encode("ascii")
        try:
            initial = decode_sasl(raw)
        except ValueError:
            raise args.error("initial response is not valid base64") from None
    args.end()
    return AuthenticateRequest(mechanism, initial)


def parse_starttls(args: Args) -> StartTlsRequest:
    args.end()
    return StartTlsRequest()


def parse_unauthenticate(args: Args) -> UnauthenticateRequest:
    args.end()
    return UnauthenticateRequest()
