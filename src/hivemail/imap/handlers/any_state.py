"""CAPABILITY, NOOP, LOGOUT, ID (RFC 9051 section 6.1, RFC 2971)."""

from __future__ import annotations

from hivemail import __version__
from hivemail.auth.sasl import MECHANISMS, PLAINTEXT_MECHANISMS
from hivemail.imap_proto import Capability, Id, Tagged

# Listed only once a client has logged in (RFC 9051 7.2.2 lets a server
# show more capabilities after authentication, and clients ask again).
_AUTHENTICATED = (
    "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS",
    "SPECIAL-USE", "CREATE-SPECIAL-USE", "ESEARCH", "SEARCHRES", "BINARY", "STATUS=SIZE",
    "UTF8=ACCEPT", "MULTIAPPEND", "CONDSTORE", "QRESYNC", "OBJECTID", "SAVEDATE", "PREVIEW",
    # RFC 9208; not QUOTASET: users cannot change their quota (handlers/quota.py)
    "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
    # RFC 5256, 5957, 5267 (handlers/sort.py)
    "SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "ESORT",
)


def capabilities(session) -> tuple[str, ...]:
    from hivemail.imap.session import NotAuthenticated

    caps = ["IMAP4rev1", "IMAP4rev2", session.proto.literal_capability, "SASL-IR", "ID", "ENABLE", "IDLE"]
    if isinstance(session.state, NotAuthenticated):
        if not session.tls_active and session.services.tls is not None:
            caps.append("STARTTLS")
        plaintext = session.plaintext_allowed
        if not plaintext:
            caps.append("LOGINDISABLED")
        caps += [f"AUTH={m}" for m in MECHANISMS if plaintext or m not in PLAINTEXT_MECHANISMS]
    else:
        caps += _AUTHENTICATED
        # After login only, as Dovecot lists COMPRESS (RFC 8437 section 3
        # allows the same for UNAUTHENTICATE).
        caps += ("COMPRESS=DEFLATE", "UNAUTHENTICATE")
    return tuple(caps)


async def capability(session, tag: str, request) -> Tagged:
    session.send(Capability(capabilities(session)))
    return Tagged.ok(tag, "Capability completed")


async def noop(session, tag: str, request) -> Tagged:
    return Tagged.ok(tag, "NOOP completed")


async def logout(session, tag: str, request) -> Tagged:
    return Tagged.ok(tag, "Logout completed")


async def id_(session, tag: str, request) -> Tagged:
    # RFC 2971 3.3: remember what the client says (it shows up in logs).
    if request.params:
        session.client_id = dict(request.params)
    session.send(Id((("name", "hivemail"), ("version", __version__))))
    return Tagged.ok(tag, "ID completed")
