"""Every (state, command) pair is allowed or BAD as the table says, and nothing crashes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivemail.imap_proto import COMMANDS, BadCommand, CommandReceived, ImapServerConnection, State
from hivemail.imap_proto.states import TRANSITIONS, next_state

# A syntactically valid line for each command, so only the state decides.
VALID = {
    "COMPRESS": b" DEFLATE", "UNAUTHENTICATE": b"",
    "CAPABILITY": b"", "NOOP": b"", "LOGOUT": b"", "ID": b" NIL", "STARTTLS": b"",
    "LOGIN": b" u p", "AUTHENTICATE": b" PLAIN", "ENABLE": b" CONDSTORE", "SELECT": b" INBOX",
    "EXAMINE": b" INBOX", "CREATE": b" x", "DELETE": b" x", "RENAME": b" x y", "SUBSCRIBE": b" x",
    "UNSUBSCRIBE": b" x", "LIST": b' "" *', "LSUB": b' "" *', "NAMESPACE": b"", "STATUS": b" x (MESSAGES)",
    "APPEND": b" x {1+}\r\nm", "IDLE": b"", "CHECK": b"", "CLOSE": b"", "UNSELECT": b"", "EXPUNGE": b"",
    "SEARCH": b" ALL", "FETCH": b" 1 FLAGS", "STORE": b" 1 +FLAGS (\\Seen)", "COPY": b" 1 x", "MOVE": b" 1 x",
    "UID EXPUNGE": b" 1", "UID SEARCH": b" ALL", "UID FETCH": b" 1 FLAGS", "UID STORE": b" 1 FLAGS ()",
    "UID COPY": b" 1 x", "UID MOVE": b" 1 x",
    "SORT": b" (DATE) UTF-8 ALL", "UID SORT": b" (DATE) UTF-8 ALL",
    "THREAD": b" REFERENCES UTF-8 ALL", "UID THREAD": b" REFERENCES UTF-8 ALL",
    "GETQUOTA": b' "User quota"', "GETQUOTAROOT": b" INBOX", "SETQUOTA": b' "User quota" (STORAGE 1)',
}
LIVE_STATES = [State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED]


def test_every_command_has_a_valid_example():
    assert set(VALID) == set(COMMANDS)


@pytest.mark.parametrize("state", LIVE_STATES)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_state_table(state, name):
    conn = ImapServerConnection(state=state)
    conn.receive_data(b"t " + name.encode() + VALID[name] + b"\r\n")
    [event] = [e for e in conn.events()]
    if state in COMMANDS[name].allowed_states:
        assert isinstance(event, CommandReceived) and event.command == name
    else:
        assert isinstance(event, BadCommand) and f"not allowed in the {state.value} state" in event.text


def test_transitions_table():
    assert next_state(State.NOT_AUTHENTICATED, "LOGIN", "OK") is State.AUTHENTICATED
    assert next_state(State.NOT_AUTHENTICATED, "LOGIN", "NO") is State.NOT_AUTHENTICATED
    assert next_state(State.SELECTED, "SELECT", "NO") is State.AUTHENTICATED
    assert next_state(State.AUTHENTICATED, "SELECT", "NO") is State.AUTHENTICATED
    assert next_state(State.SELECTED, "UNSELECT", "OK") is State.AUTHENTICATED
    assert next_state(State.SELECTED, "FETCH", "OK") is State.SELECTED
    assert next_state(State.SELECTED, "UNAUTHENTICATE", "OK") is State.NOT_AUTHENTICATED
    assert next_state(State.AUTHENTICATED, "UNAUTHENTICATE", "OK") is State.NOT_AUTHENTICATED
    for (name, _status), moves in TRANSITIONS.items():
        assert name in COMMANDS
        for before in moves:
            assert before in COMMANDS[name].allowed_states


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(LIVE_STATES),
    name=st.sampled_from(sorted(COMMANDS) + ["BOGUS", "UID BOGUS", "uid fetch", "Select"]),
    args=st.lists(st.sampled_from([b" 1", b" *", b" x", b" (", b")", b' "q"', b" {2+}\r\nab", b" NIL", b" (FLAGS)", b" \\Seen", b"\xff"]), max_size=6),
    status=st.sampled_from(["OK", "NO", "BAD"]),
)
def test_any_state_command_and_answer_never_crashes(state, name, args, status):
    from hivemail.imap_proto import Tagged

    conn = ImapServerConnection(state=state)
    conn.receive_data(b"t " + name.encode() + b"".join(args) + b"\r\nz NOOP\r\n")
    seen = []
    for _ in range(4):
        for event in conn.events():
            seen.append(event)
            tag = getattr(event, "tag", None)
            if tag is not None:
                conn.send(Tagged(tag, status))
        conn.data_to_send()
    assert seen and all(isinstance(e, (CommandReceived, BadCommand)) or type(e).__name__ in ("IdleDone", "LiteralRequested", "AuthContinuation") for e in seen)
    assert conn.state in set(State)
