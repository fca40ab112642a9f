"""Connection states and the responses that move between them.

RFC 9051 section 3 (figure "Flow of IMAP4 Connection")::

                  +----------------------+
                  |connection established|
                  +----------------------+
                             ||
                             \\/
           +--------------------------------------+
           |          server greeting             |
           +--------------------------------------+
                     || (1)       || (2)        || (3)
                     \\/          ||            ||
           +-----------------+    ||            ||
           |Not Authenticated|    ||            ||
           +-----------------+    ||            ||
            || (7)   || (4)       ||            ||
            ||       \\/          \\/            ||
            ||     +----------------+           ||
            ||     | Authenticated  |<=++       ||
            ||     +----------------+  ||       ||
            ||       || (7)   || (5)   || (6)   ||
            ||       ||       \\/      ||       ||
            ||       ||    +--------+  ||       ||
            ||       ||    |Selected|==++       ||
            ||       ||    +--------+           ||
            ||       ||       || (7)            ||
            \\/      \\/       \\/               \\/
           +--------------------------------------+
           |               Logout                 |
           +--------------------------------------+

Rule 1 (as in h11's ``_state.py``): the state changes only when the session
*sends* the response that implies the change, never when a command is
parsed.  The parser checks a command's allowed states against the current
state; commands that can change it are barriers (``CommandSpec.changes_state``):
the next command is not parsed until their tagged response has been sent, so
``A1 LOGIN ..`` pipelined with ``A2 SELECT ..`` is judged in the right state.

Rule 2: a tagged OK to SELECT or EXAMINE is the only way into SELECTED, and a
tagged NO to SELECT/EXAMINE leaves the selected state (RFC 9051 section
6.3.2: "If the client is permitted to ... a failed SELECT ... the previously
selected mailbox is closed").  ``* BYE`` always means LOGOUT.
"""

from __future__ import annotations

import enum

__all__ = ["State", "TRANSITIONS", "next_state"]


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ALL_STATES = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})

#: (command name, tagged status) -> {state before: state after}.
#: A pair not listed leaves the state alone.
TRANSITIONS: dict[tuple[str, str], dict[State, State]] = {
    ("LOGIN", "OK"): {State.NOT_AUTHENTICATED: State.AUTHENTICATED},
    ("AUTHENTICATE", "OK"): {State.NOT_AUTHENTICATED: State.AUTHENTICATED},
    ("SELECT", "OK"): {State.AUTHENTICATED: State.SELECTED, State.SELECTED: State.SELECTED},
    ("EXAMINE", "OK"): {State.AUTHENTICATED: State.SELECTED, State.SELECTED: State.SELECTED},
    ("SELECT", "NO"): {State.SELECTED: State.AUTHENTICATED},
    ("EXAMINE", "NO"): {State.SELECTED: State.AUTHENTICATED},
    ("CLOSE", "OK"): {State.SELECTED: State.AUTHENTICATED},
    ("UNSELECT", "OK"): {State.SELECTED: State.AUTHENTICATED},
    # RFC 8437 section 5, transition 7: back to the start, selected or not.
    ("UNAUTHENTICATE", "OK"): {State.AUTHENTICATED: State.NOT_AUTHENTICATED, State.SELECTED: State.NOT_AUTHENTICATED},
}


def next_state(state: State, command: str | None, status: str) -> State:
    """The state after the session sent a tagged ``status`` for ``command``."""
    if command is None:
        return state
    return TRANSITIONS.get((command, status), {}).get(state, state)
