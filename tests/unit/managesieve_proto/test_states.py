"""The state table: every (state, command) pair is allowed or refused with NO
as RFC 5804 section 2 / section 4 say, and the transitions happen on send."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivemail.managesieve_proto import (
    COMMANDS,
    LIVE_STATES,
    TRANSITIONS,
    BadCommand,
    Bye,
    CommandReceived,
    ConnectionClosed,
    ManageSieveServerConnection,
    No,
    Ok,
    SaslChallenge,
    State,
    next_state,
)

# A syntactically valid line for each command, so only the state decides.
VALID = {
    "AUTHENTICATE": b' "PLAIN" ""', "STARTTLS": b"", "LOGOUT": b"", "CAPABILITY": b"", "NOOP": b' "t"',
    "HAVESPACE": b' "s" 10', "PUTSCRIPT": b' "s" {5+}\r\nkeep;', "LISTSCRIPTS": b"", "SETACTIVE": b' ""',
    "GETSCRIPT": b' "s"', "DELETESCRIPT": b' "s"', "RENAMESCRIPT": b' "a" "b"', "CHECKSCRIPT": b" {5+}\r\nkeep;",
    "UNAUTHENTICATE": b"",
}

# RFC 5804 section 4: command-any / command-nonauth / command-auth.
EXPECTED = {
    State.NOT_AUTHENTICATED: {"CAPABILITY", "LOGOUT", "NOOP", "AUTHENTICATE", "STARTTLS"},
    State.AUTHENTICATED: {
        "CAPABILITY", "LOGOUT", "NOOP", "GETSCRIPT", "SETACTIVE", "LISTSCRIPTS", "DELETESCRIPT", "PUTSCRIPT",
        "CHECKSCRIPT", "HAVESPACE", "RENAMESCRIPT", "UNAUTHENTICATE",
    },
}


def connection_in(state: State) -> ManageSieveServerConnection:
    conn = ManageSieveServerConnection()
    conn.send(Ok())
    if state is State.AUTHENTICATED:
        conn.receive_data(b'AUTHENTICATE "PLAIN" "AHUAcA=="\r\n')
        [event] = conn.events()
        assert isinstance(event, CommandReceived)
        conn.send(Ok())
    conn.data_to_send()
    assert conn.state is state
    return conn


def test_every_command_has_a_valid_example():
    assert set(VALID) == set(COMMANDS)


def test_table_is_the_rfc_table():
    for state in LIVE_STATES:
        assert {name for name, spec in COMMANDS.items() if state in spec.allowed_states} == EXPECTED[state]


@pytest.mark.parametrize("state", LIVE_STATES)
@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("case", ["upper", "lower"])
def test_state_table(state, name, case):
    conn = connection_in(state)
    word = name.encode() if case == "upper" else name.lower().encode()
    conn.receive_data(word + VALID[name] + b"\r\n")
    [event] = list(conn.events())
    if name in EXPECTED[state]:
        assert isinstance(event, CommandReceived) and event.request.NAME == name
    else:
        assert event == BadCommand(No(f"{name} is not allowed in the {state.value} state"))
        conn.send(event.response)
        assert conn.data_to_send().startswith(b"NO ")
        assert conn.state is state  # a refusal changes nothing
        conn.receive_data(b"NOOP\r\n")  # and the connection stays usable
        assert [type(e) for e in conn.events()] == [CommandReceived]


def test_transitions():
    assert next_state(State.NOT_AUTHENTICATED, "AUTHENTICATE", "OK") is State.AUTHENTICATED
    assert next_state(State.NOT_AUTHENTICATED, "AUTHENTICATE", "NO") is State.NOT_AUTHENTICATED
    assert next_state(State.AUTHENTICATED, "UNAUTHENTICATE", "OK") is State.NOT_AUTHENTICATED
    assert next_state(State.AUTHENTICATED, "LOGOUT", "OK") is State.LOGOUT
    assert next_state(State.AUTHENTICATED, "PUTSCRIPT", "OK") is State.AUTHENTICATED
    assert next_state(State.NOT_AUTHENTICATED, "STARTTLS", "OK") is State.NOT_AUTHENTICATED
    for state in LIVE_STATES:
        assert next_state(state, None, "BYE") is State.LOGOUT
        assert next_state(state, "NOOP", "BYE") is State.LOGOUT
        assert next_state(state, None, "OK") is state
    for (name, _status), moves in TRANSITIONS.items():
        for before in moves:
            assert before in COMMANDS[name].allowed_states


@pytest.mark.parametrize("status", ["OK", "NO", "BYE"])
@pytest.mark.parametrize("name", sorted(EXPECTED[State.NOT_AUTHENTICATED] | EXPECTED[State.AUTHENTICATED]))
def test_state_moves_only_when_the_response_is_sent(name, status):
    state = State.AUTHENTICATED if name in EXPECTED[State.AUTHENTICATED] else State.NOT_AUTHENTICATED
    conn = connection_in(state)
    conn.receive_data(name.encode() + VALID[name] + b"\r\n")
    [event] = list(conn.events())
    assert isinstance(event, CommandReceived)
    assert conn.state is state  # parsing changes nothing
    conn.send({"OK": Ok(), "NO": No(), "BYE": Bye()}[status])
    assert conn.state is next_state(state, name, status)
    assert conn.closed == (conn.state is State.LOGOUT)


def test_authenticate_is_refused_after_authentication():
    # Section 2.1: "a server MUST reject any further AUTHENTICATE commands with a NO reply".
    conn = connection_in(State.AUTHENTICATED)
    conn.receive_data(b'AUTHENTICATE "PLAIN" ""\r\n')
    [event] = conn.events()
    assert isinstance(event, BadCommand) and isinstance(event.response, No)


def test_bye_at_any_time_closes():
    conn = connection_in(State.AUTHENTICATED)
    conn.receive_data(b"NOO")  # half a command
    conn.send(Bye("Idle for too long"))
    assert conn.data_to_send() == b'BYE "Idle for too long"\r\n'
    assert list(conn.events()) == [ConnectionClosed("bye")]
    conn.receive_data(b"P\r\n")
    assert list(conn.events()) == []


RESPONSES = st.sampled_from([Ok(), No(), Bye(), SaslChallenge(b"")])
LINES = st.sampled_from(sorted(COMMANDS)).map(lambda n: n.encode() + VALID[n] + b"\r\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(LINES, RESPONSES), max_size=12))
def test_random_command_and_response_sequences_follow_the_table(steps):
    """Whatever the order of commands and final responses, the state is the
    one next_state computes, and out-of-state commands are refused."""
    conn = ManageSieveServerConnection()
    conn.send(Ok())
    for line, response in steps:
        if conn.closed:
            break
        before = conn.state
        conn.receive_data(line)
        events = list(conn.events())
        assert len(events) == 1
        event = events[0]
        name = line.split(b" ")[0].rstrip(b"\r\n").decode()
        if isinstance(event, BadCommand):
            assert name not in EXPECTED[before] or name == "STARTTLS"
            conn.send(event.response)
            assert conn.state is next_state(before, None, event.response.STATUS)
            continue
        assert name in EXPECTED[before]
        final = response
        if isinstance(response, SaslChallenge):
            final = Ok()
            if name == "AUTHENTICATE":
                conn.send(response)
                conn.receive_data(b'"*"\r\n')
                [aborted] = conn.events()
                final = aborted.response
        conn.send(final)
        assert conn.state is next_state(before, name, final.STATUS)
        if name == "STARTTLS" and final == Ok():
            assert conn.reading_paused
            conn.start_tls_done()
            conn.send(Ok())
