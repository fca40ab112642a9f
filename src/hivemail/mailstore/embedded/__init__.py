"""mailstore/embedded: SQLite (WAL) index + content-addressed message files.

``app.py`` names it as ``hivemail.mailstore.embedded.store.EmbeddedStore``;
the short import below is the same class.
"""

from hivemail.mailstore.embedded.store import EmbeddedStore

__all__ = ["EmbeddedStore"]
