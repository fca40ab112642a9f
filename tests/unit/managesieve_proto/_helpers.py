"""Drive ManageSieveServerConnection in tests: a tiny in-memory session, and
feeding the same input whole, byte by byte and in chunks."""

from __future__ import annotations

import base64
import random

from hivemail.managesieve_proto import (
    ACTIVE,
    ALREADYEXISTS,
    NONEXISTENT,
    WARNINGS,
    AuthAborted,
    AuthenticateRequest,
    AuthResponse,
    BadCommand,
    Bye,
    CapabilityRequest,
    CheckScriptRequest,
    CommandReceived,
    DeleteScriptRequest,
    GetScriptRequest,
    HaveSpaceRequest,
    ListScriptsRequest,
    LogoutRequest,
    ManageSieveServerConnection,
    No,
    NoopRequest,
    Ok,
    PutScriptRequest,
    RenameScriptRequest,
    ResponseCode,
    SaslChallenge,
    ScriptContent,
    ScriptList,
    SetActiveRequest,
    StartTlsRequest,
    State,
    UnauthenticateRequest,
    capabilities,
)

#: None = whole; ints = chunk sizes (1 = byte by byte).
CHUNKINGS = (None, 1, 2, 3, 7, 64)

PLAIN_OK = b"\x00tim\x00tanstaaftanstaaf"


def split(data: bytes, chunk: int | None) -> list[bytes]:
    if chunk is None:
        return [data]
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def random_split(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 40)
        out.append(data[i : i + n])
        i += n
    return out


def validate(script: bytes) -> list[str]:
    """A stand-in for the Sieve validator: a line with InvalidSieveCommand is
    an error, a line with a second redirect gets a warning."""
    warnings = []
    redirects = 0
    for number, line in enumerate(script.decode("utf-8").splitlines(), 1):
        if "InvalidSieveCommand" in line:
            raise ValueError(f"line {number}: Syntax error")
        if line.strip().startswith("redirect"):
            redirects += 1
            if redirects > 2:
                warnings.append(f"line {number}: server redirect action limit is 2, this redirect might be ignored")
    return warnings


class FakeSession:
    """An in-memory session with a script store; answers every event the way
    managesieve/session.py is expected to (see connection.py's docstring)."""

    def __init__(self, conn: ManageSieveServerConnection | None = None, *, greet: bool = True, tls: bool = False) -> None:
        self.conn = conn or ManageSieveServerConnection(tls=tls)
        self.scripts: dict[str, bytes] = {}
        self.active: str | None = None
        self.user: str | None = None
        self.failures = 0
        self.events: list = []
        self.out = b""
        self.want_tls_handshake = False
        if greet:
            self.greet()

    def caps(self):
        return capabilities(
            implementation="hivemail",
            sasl=["PLAIN"],
            sieve=["fileinto", "vacation"],
            starttls=self.conn.starttls_available,
            owner=self.user,
        )

    def greet(self) -> None:
        self.conn.send(self.caps())
        self.conn.send(Ok())
        self.out += self.conn.data_to_send()

    def feed(self, data: bytes, chunk: int | None = None, *, eof: bool = False) -> FakeSession:
        for piece in split(data, chunk):
            self.receive(piece)
        if eof:
            self.receive(b"")
        return self

    def receive(self, piece: bytes) -> None:
        self.conn.receive_data(piece)
        self.drain()

    def drain(self) -> None:
        for event in self.conn.events():
            self.events.append(event)
            self.answer(event)
        self.out += self.conn.data_to_send()
        if self.want_tls_handshake:
            self.want_tls_handshake = False
            self.conn.start_tls_done()
            self.greet()
            self.drain()

    def answer(self, event) -> None:
        send = self.conn.send
        match event:
            case BadCommand(response) | AuthAborted(_, response):
                send(response)
            case AuthResponse(data):
                self._auth_result(data)
            case CommandReceived(request):
                self.handle(request)

    def _auth_result(self, data: bytes) -> None:
        if data == PLAIN_OK:
            self.user = "tim"
            self.conn.send(Ok())
            return
        self.failures += 1
        if self.failures >= 3:
            self.conn.send(Bye("Too many failed authentication attempts"))
        else:
            self.conn.send(No())

    def handle(self, request) -> None:  # noqa: C901 - a dispatch table in a match
        send = self.conn.send
        match request:
            case AuthenticateRequest("PLAIN", None):
                send(SaslChallenge(b""))
            case AuthenticateRequest("PLAIN", initial):
                self._auth_result(initial)
            case AuthenticateRequest():
                send(No("Unsupported mechanism"))
            case StartTlsRequest():
                send(Ok())
                self.want_tls_handshake = True
            case LogoutRequest():
                send(Ok())
            case CapabilityRequest():
                send(self.caps())
                send(Ok())
            case NoopRequest(tag):
                send(Ok("Done", ResponseCode.tag(tag)) if tag is not None else Ok("NOOP completed"))
            case UnauthenticateRequest():
                self.user = None
                send(Ok())
            case HaveSpaceRequest(_, size):
                send(No("Quota exceeded", ResponseCode("QUOTA/MAXSIZE")) if size > 10000 else Ok())
            case PutScriptRequest() | CheckScriptRequest() as req:
                try:
                    warnings = validate(req.script)
                except ValueError as exc:
                    send(No(str(exc)))
                    return
                if isinstance(req, PutScriptRequest):
                    self.scripts[req.name] = req.script
                send(Ok("\r\n".join(warnings), WARNINGS) if warnings else Ok())
            case ListScriptsRequest():
                send(ScriptList(tuple((n, n == self.active) for n in self.scripts)))
                send(Ok())
            case SetActiveRequest(name):
                if name and name not in self.scripts:
                    send(No("There is no script by that name", NONEXISTENT))
                else:
                    self.active = name or None
                    send(Ok())
            case GetScriptRequest(name):
                if name not in self.scripts:
                    send(No("There is no script by that name", NONEXISTENT))
                else:
                    send(ScriptContent(self.scripts[name]))
                    send(Ok())
            case DeleteScriptRequest(name):
                if name not in self.scripts:
                    send(No("There is no script by that name", NONEXISTENT))
                elif name == self.active:
                    send(No("You may not delete an active script", ACTIVE))
                else:
                    del self.scripts[name]
                    send(Ok())
            case RenameScriptRequest(old, new):
                if old not in self.scripts:
                    send(No("There is no script by that name", NONEXISTENT))
                elif new in self.scripts:
                    send(No(f"{new} already exists", ALREADYEXISTS))
                else:
                    self.scripts[new] = self.scripts.pop(old)
                    if self.active == old:
                        self.active = new
                    send(Ok())
            case _:
                raise AssertionError(request)


def run(data: bytes, chunk: int | None = None, *, eof: bool = False, setup=None, **kw) -> FakeSession:
    session = FakeSession(**kw)
    if setup is not None:
        setup(session)
    return session.feed(data, chunk, eof=eof)


def run_in_pieces(data: bytes | list[bytes], *, eof: bool = False, setup=None, seeds=range(5), **kw) -> FakeSession:
    """Run ``data`` whole, byte by byte, in fixed and random chunks; assert
    the same events and output every time; return the whole run.

    ``data`` may be a list of client turns (the client waits for the
    server between them, as after STARTTLS); each turn is split on its own.
    """
    turns = [data] if isinstance(data, bytes) else data
    whole = FakeSession(**kw)
    if setup is not None:
        setup(whole)
    for turn in turns:
        whole.feed(turn)
    if eof:
        whole.receive(b"")
    splitters = [lambda d, c=c: split(d, c) for c in CHUNKINGS[1:]]
    splitters += [lambda d, s=s: random_split(d, s) for s in seeds]
    for splitter in splitters:
        session = FakeSession(**kw)
        if setup is not None:
            setup(session)
        for turn in turns:
            for piece in splitter(turn):
                session.receive(piece)
        if eof:
            session.receive(b"")
        assert session.events == whole.events
        assert session.out == whole.out
    return whole


def login(session: FakeSession) -> None:
    session.feed(b'AUTHENTICATE "PLAIN" "' + base64.b64encode(PLAIN_OK) + b'"\r\n')
    session.out = b""
    session.events = []
    assert session.conn.state is State.AUTHENTICATED
