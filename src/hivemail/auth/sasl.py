"""SASL exchanges as sans-I/O objects, shared by IMAP AUTHENTICATE, POP3 AUTH
(and SMTP AUTH later).

A session feeds each decoded client response to ``exchange.step()`` and acts
on what comes back: send a challenge, look credentials up (the exchange
never touches storage), or finish. Base64 framing and the ``*`` cancel are
the protocol's business; these objects see raw bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import scramp

from hivemail.auth.passwords import parse_scram

MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
PLAINTEXT_MECHANISMS = frozenset({"PLAIN"})


@dataclass(frozen=True)
class Challenge:
    data: bytes


@dataclass(frozen=True)
class CheckPassword:
    """PLAIN finished parsing: verify ``password`` for ``authcid``."""

    authzid: str
    authcid: str
    password: str


@dataclass(frozen=True)
class NeedScramRecord:
    """SCRAM needs the stored credentials of ``authcid``; answer with
    :meth:`ScramExchange.provide`."""

    authcid: str


@dataclass(frozen=True)
class Success:
    authcid: str
    # Data for the final server message (SCRAM's server-final), if any.
    final: bytes | None = None


@dataclass(frozen=True)
class Failure:
    reason: str


Step = Challenge | CheckPassword | NeedScramRecord | Success | Failure


class PlainExchange:
    """RFC 4616: ``[authzid] NUL authcid NUL passwd``, all UTF-8."""

    def step(self, response: bytes) -> Step:
        if not response:
            # RFC 4422 5: an empty initial response asks for an empty challenge.
            return Challenge(b"")
        parts = response.split(b"\x00")
        if len(parts) != 3:
            return Failure("malformed PLAIN message")
        try:
            authzid, authcid, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            return Failure("PLAIN message is not UTF-8")
        if not authcid or not password:
            return Failure("empty user name or password")
        if authzid and authzid.lower() != authcid.lower():
            # Proxy authorization (acting as another user) is not offered.
            return Failure("authorization identity not permitted")
        return CheckPassword(authzid, authcid, password)


def _scram_username(client_first: bytes) -> str | None:
    """The ``n=`` attribute of a client-first-message (RFC 5802 5.1), with
    ``=2C`` and ``=3D`` unescaped."""
    try:
        text = client_first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = text.split(",")
    if len(fields) < 4:
        return None
    for f in fields[2:]:
        if f.startswith("n="):
            return f[2:].replace("=2C", ",").replace("=3D", "=")
    return None


class ScramExchange:
    """RFC 5802 / RFC 7677 SCRAM-SHA-256 (no channel binding: -PLUS is not
    offered). Message formats and proofs are scramp's; this class only
    sequences them around the credential look-up."""

    def __init__(self) -> None:
        self._client_first: bytes | None = None
        self._server: scramp.ScramServer | None = None
        self._authcid = ""
        self._finished = False

    def step(self, response: bytes) -> Step:
        if self._finished:
            return Failure("exchange already finished")
        if self._client_first is None:
            if not response:
                return Challenge(b"")
            name = _scram_username(response)
            if not name:
                return Failure("malformed SCRAM client-first-message")
            self._client_first = response
            self._authcid = name
            return NeedScramRecord(name)
        if self._server is None:
            return Failure("credentials were not provided")
        try:
            self._server.set_client_final(response.decode("utf-8"))
            final = self._server.get_server_final()
        except (scramp.ScramException, UnicodeDecodeError) as e:
            self._finished = True
            return Failure(f"SCRAM: {e}")
        self._finished = True
        return Success(self._authcid, final.encode("utf-8"))

    def provide(self, record: str | None) -> Step:
        """Answer :class:`NeedScramRecord`: the account's SCRAM record, or
        None for an unknown user (the exchange still runs to the end with a
        made-up record, so that a client cannot tell the two apart)."""
        assert self._client_first is not None
        creds = parse_scram(record) if record else None
        if creds is None:
            salt, stored, server, iterations = scramp.ScramMechanism("SCRAM-SHA-256").make_auth_info(
                "invalid", iteration_count=4096
            )
        else:
            salt, stored, server, iterations = creds
        mech = scramp.ScramMechanism("SCRAM-SHA-256")
        self._server = mech.make_server(lambda _name: (salt, stored, server, iterations))
        try:
            self._server.set_client_first(self._client_first.decode("utf-8"))
            return Challenge(self._server.get_server_first().encode("utf-8"))
        except (scramp.ScramException, UnicodeDecodeError) as e:
            self._finished = True
            return Failure(f"SCRAM: {e}")


def new_exchange(mechanism: str) -> PlainExchange | ScramExchange | None:
    match mechanism.upper():
        case "PLAIN":
            return PlainExchange()
        case "SCRAM-SHA-256":
            return ScramExchange()
    return None
