"""Hypothesis: the parser is total (random bytes never raise out of
receive_data/events), its limits hold, and any split of the input gives the
same events and bytes."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemail.managesieve_proto import (
    AuthAborted,
    AuthResponse,
    BadCommand,
    CommandReceived,
    ConnectionClosed,
    ManageSieveLimits,
    ManageSieveServerConnection,
    Ok,
    PutScriptRequest,
    CheckScriptRequest,
    SaslChallenge,
)

from ._helpers import FakeSession, login

LIMITS = ManageSieveLimits(max_line=128, max_quoted=32, max_name_octets=16, max_script_size=64, max_string=48,
                           max_bad_commands=50)

# Fragments that reach deep into the grammar, mixed with raw noise.
FRAGMENTS = st.sampled_from([
    b"AUTHENTICATE ", b'"PLAIN" ', b"PUTSCRIPT ", b"CHECKSCRIPT ", b"GETSCRIPT ", b"HAVESPACE ", b"NOOP",
    b"LOGOUT", b"STARTTLS", b"UNAUTHENTICATE", b"LISTSCRIPTS", b"RENAMESCRIPT ", b"SETACTIVE ", b'"s" ',
    b'"*"', b'""', b"{5+}\r\n", b"{3}\r\n", b"{70+}\r\n", b"{999999+}\r\n", b"\r\n", b"\n", b" ", b'"',
    b"\\", b"12", b"YQ==", b"\x00", b"\xff", b"x" * 130,
])
INPUT = st.lists(st.one_of(FRAGMENTS, st.binary(max_size=20)), max_size=40).map(b"".join)


class CheckingSession(FakeSession):
    """Answers every event and checks the limits on what comes out."""

    def answer(self, event):
        if isinstance(event, CommandReceived):
            request = event.request
            if isinstance(request, (PutScriptRequest, CheckScriptRequest)):
                assert len(request.script) <= LIMITS.max_script_size
            for name in ("name", "old", "new"):
                value = getattr(request, name, None)
                if isinstance(value, str):
                    assert len(value.encode()) <= LIMITS.max_name_octets
        if isinstance(event, AuthResponse):
            assert len(event.data) <= LIMITS.max_string
        super().answer(event)


def drive(data: bytes, pieces: list[bytes]) -> CheckingSession:
    session = CheckingSession(ManageSieveServerConnection(LIMITS))
    for piece in pieces:
        session.receive(piece)
        assert len(session.conn._reader) <= max(LIMITS.max_line, 64 * 1024) + len(piece)
    session.receive(b"")
    assert session.conn.closed
    assert isinstance(session.events[-1], ConnectionClosed)
    assert sum(isinstance(e, ConnectionClosed) for e in session.events) == 1
    return session


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data):
    drive(data, [data])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INPUT, st.data())
def test_any_split_gives_the_same_events(data, draw):
    whole = drive(data, [data])
    cuts = sorted(draw.draw(st.sets(st.integers(0, len(data)), max_size=12)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)]) if b > a]
    split = drive(data, pieces)
    assert split.events == whole.events
    assert split.out == whole.out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INPUT)
def test_random_input_after_login_never_raises(data):
    session = CheckingSession(ManageSieveServerConnection(LIMITS))
    login(session)
    session.receive(data)
    session.receive(b"")
    assert session.conn.closed


@settings(max_examples=200, deadline=None)
@given(INPUT)
def test_random_sasl_responses_never_raise(data):
    conn = ManageSieveServerConnection(LIMITS)
    conn.send(Ok())
    conn.receive_data(b'AUTHENTICATE "PLAIN"\r\n')
    [_] = conn.events()
    conn.send(SaslChallenge(b""))
    conn.receive_data(data)
    conn.receive_data(b"")
    while not conn.closed:
        event = conn.next_event()
        if event is None:
            break
        if isinstance(event, (BadCommand, AuthAborted)):
            conn.send(event.response)
        elif isinstance(event, AuthResponse):
            conn.send(SaslChallenge(b"more"))
        elif isinstance(event, CommandReceived):
            conn.send(Ok())
    assert conn.closed
