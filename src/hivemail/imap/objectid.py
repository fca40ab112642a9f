"""Object identifiers (RFC 8474 OBJECTID): MAILBOXID, EMAILID, THREADID.

Every id starts with a letter naming its kind (section 8.1's advice: never
a leading digit or dash, never "NIL", and EMAILIDs and THREADIDs can never
be equal):

* MAILBOXID ``F`` + the mailbox's UIDVALIDITY in hex. hivemail allocates
  UIDVALIDITY strictly increasing across the whole store, so no two
  mailboxes ever share one; RENAME keeps it (the same mailbox), RENAME
  INBOX and DELETE + CREATE get a new one, as section 4 asks.
* EMAILID ``M`` + 96 bits of the SHA-256 of the stored message: a function
  of the immutable content, so COPY and MOVE keep it (section 5.1) and an
  identical message stored twice shares it (allowed there).
* THREADID ``T`` + 96 bits of the SHA-256 of the message's thread root
  Message-ID: the first of References, else In-Reply-To, else its own
  Message-ID (as RFC 5256 REFERENCES reads them, from the keys stored at
  delivery), else its EMAILID's hash. A function of the content too, so it never
  changes once reported and is the same for the same EMAILID (5.2); a
  reply whose References name the root joins the root's thread in every
  mailbox.
"""

from __future__ import annotations

import hashlib

from hivemail.mailstore import MailboxInfo
from hivemail.mailstore.sortkeys import SortKeys


def mailbox_id(mailbox: MailboxInfo) -> str:
    return f"F{mailbox.uidvalidity:08x}"


def email_id(blob_id: str) -> str:
    return "M" + blob_id[:24]


def thread_id(root: str | None, blob_id: str) -> str:
    """``root``: the thread root's Message-ID (None: the message has none)."""
    if not root:
        return "T" + blob_id[:24]
    return "T" + hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def thread_of(keys: SortKeys, blob_id: str) -> str:
    """THREADID from a message's stored sort keys (``mailstore.sortkeys``:
    normalised Message-ID and REFERENCES chain, References else
    In-Reply-To): the chain's first id is the thread's root."""
    root = keys.references[0] if keys.references else keys.message_id
    return thread_id(root, blob_id)
