"""Password hashes (argon2id) and SCRAM-SHA-256 credentials.

Both are computed when a password is set: argon2id serves LOGIN, USER/PASS
and SASL PLAIN; the SCRAM record (RFC 5802 section 3: salt, iteration count,
StoredKey, ServerKey) lets SCRAM-SHA-256 work without the plain password.
Hashing is deliberately slow: callers on the event loop run these functions
in a thread.
"""

from __future__ import annotations

import base64

import argon2
import scramp

# argon2-cffi's defaults follow RFC 9106's second recommended option
# (t=3, m=64 MiB, p=4); verifying costs ~50 ms, which also slows guessing.
_HASHER = argon2.PasswordHasher()

# RFC 7677 section 4 recommends at least 4096 iterations.
SCRAM_ITERATIONS = 4096
_SCRAM = scramp.ScramMechanism("SCRAM-SHA-256")


def hash_password(password: str) -> str:
    """An argon2id PHC string."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def make_scram(password: str) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` (base64),
    the format PostgreSQL uses for the same record."""
    salt, stored_key, server_key, iterations = _SCRAM.make_auth_info(
        password, iteration_count=SCRAM_ITERATIONS
    )
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def parse_scram(record: str) -> tuple[bytes, bytes, bytes, int] | None:
    """(salt, stored_key, server_key, iterations), or None for a bad record."""
    try:
        mech, head, keys = record.split("$")
        iterations, salt = head.split(":")
        stored, server = keys.split(":")
        if mech != "SCRAM-SHA-256":
            return None
        d = base64.b64decode
        return d(salt), d(stored), d(server), int(iterations)
    except (ValueError, TypeError):
        return None
