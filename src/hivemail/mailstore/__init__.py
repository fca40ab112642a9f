"""The mail store: one interface (``interface.MailStore``), two backends.

``app.py`` is the only place that names a concrete backend.
"""

from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.interface import MailStore
from hivemail.mailstore.types import *  # noqa: F401,F403  (neutral value types)

__all__ = ["ErrorKind", "MailError", "MailStore"]
