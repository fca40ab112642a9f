"""ManageSieve connection states and the responses that move between them.

RFC 5804 section 2: "Upon initial connection to the server, the client's
session is in non-authenticated state.  Prior to successful authentication,
only the AUTHENTICATE, CAPABILITY, STARTTLS, LOGOUT, and NOOP commands are
valid. ... Servers MUST reject all other commands with a NO response."
Which command is allowed where is ``CommandSpec.allowed_states`` in
``commands.py``; this module has the moves::

        greeting (OK)           OK to AUTHENTICATE
    ------------------> NOT_AUTHENTICATED ---------------> AUTHENTICATED
                              ^      |                       |
                              |      +-- OK to STARTTLS      |
                              |          (same state, TLS)   |
                              +------ OK to UNAUTHENTICATE --+
                                     (RFC 5804 section 2.14.1)

    any state --- any answer to LOGOUT, or BYE at any time ---> LOGOUT

Rule 1 (h11's ``_state.py``): the state changes only when the session
*sends* the response that implies it, never when a command is parsed.  The
core parses one command at a time (the next one only after the final
response to the previous one was sent), so a pipelined command is always
judged in the state its predecessors left.

Rule 2: BYE means LOGOUT whatever it answers (RFC 5804 section 1.2: "This
response can be issued at any time and should be immediately followed by a
server hang-up"), and so does any answer to LOGOUT (section 2.3: "The
server MUST reply with an OK response", then close).
"""

from __future__ import annotations

import enum

__all__ = ["State", "TRANSITIONS", "next_state", "LIVE_STATES"]


class State(enum.Enum):
    NOT_AUTHENTICATED = "non-authenticated"
    AUTHENTICATED = "authenticated"
    LOGOUT = "logout"


#: The states in which commands are read.
LIVE_STATES = (State.NOT_AUTHENTICATED, State.AUTHENTICATED)

#: (command name, status of the final response) -> {state before: state after}.
#: A pair not listed leaves the state alone.
TRANSITIONS: dict[tuple[str, str], dict[State, State]] = {
    ("AUTHENTICATE", "OK"): {State.NOT_AUTHENTICATED: State.AUTHENTICATED},
    ("UNAUTHENTICATE", "OK"): {State.AUTHENTICATED: State.NOT_AUTHENTICATED},
    ("LOGOUT", "OK"): {State.NOT_AUTHENTICATED: State.LOGOUT, State.AUTHENTICATED: State.LOGOUT},
    ("LOGOUT", "NO"): {State.NOT_AUTHENTICATED: State.LOGOUT, State.AUTHENTICATED: State.LOGOUT},
}


def next_state(state: State, command: str | None, status: str) -> State:
    """The state after the session sent a final ``status`` (OK/NO/BYE) answering ``command``
    (``None``: the greeting or an answer to a refused command)."""
    if status == "BYE":
        return State.LOGOUT
    if command is None:
        return state
    return TRANSITIONS.get((command, status), {}).get(state, state)
