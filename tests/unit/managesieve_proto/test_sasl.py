"""AUTHENTICATE with the shared SASL exchanges of hivemail.auth.sasl (not a copy):
the core frames their data; scramp's client is the real peer."""

import base64

import scramp

from hivemail.auth.passwords import make_scram
from hivemail.auth.sasl import Challenge, CheckPassword, Failure, NeedScramRecord, Success, new_exchange
from hivemail.managesieve_proto import (
    AuthAborted,
    AuthenticateRequest,
    AuthResponse,
    BadCommand,
    CommandReceived,
    ManageSieveServerConnection,
    No,
    Ok,
    ResponseCode,
    SaslChallenge,
    State,
)

USERS = {"alice@example.org": "pw"}


class SaslSession:
    """The glue managesieve/session.py needs: sasl.Step -> core response."""

    def __init__(self):
        self.conn = ManageSieveServerConnection()
        self.conn.send(Ok())
        self.conn.data_to_send()
        self.exchange = None
        self.user = None

    def feed(self, data: bytes) -> bytes:
        self.conn.receive_data(data)
        for event in self.conn.events():
            match event:
                case CommandReceived(AuthenticateRequest(mechanism, initial)):
                    self.exchange = new_exchange(mechanism)
                    if self.exchange is None:
                        self.conn.send(No("Unsupported mechanism"))
                    else:
                        self.respond(self.exchange.step(initial if initial is not None else b""))
                case AuthResponse(data):
                    self.respond(self.exchange.step(data))
                case AuthAborted(_, response) | BadCommand(response):
                    self.exchange = None
                    self.conn.send(response)
                case CommandReceived():
                    self.conn.send(Ok())
        return self.conn.data_to_send()

    def respond(self, step) -> None:
        match step:
            case NeedScramRecord(authcid):
                password = USERS.get(authcid)
                self.respond(self.exchange.provide(make_scram(password) if password else None))
            case Challenge(data):
                self.conn.send(SaslChallenge(data))
            case CheckPassword(_, authcid, password):
                self.finish(authcid if USERS.get(authcid) == password else None, None)
            case Success(authcid, final):
                self.finish(authcid, final)
            case Failure():
                self.finish(None, None)

    def finish(self, user, final) -> None:
        self.exchange = None
        if user is None:
            self.conn.send(No("Authentication failed"))
            return
        self.user = user
        self.conn.send(Ok(code=ResponseCode.sasl(final)) if final else Ok())


def quoted_b64(line: bytes) -> bytes:
    assert line.startswith(b'"') and line.endswith(b'"\r\n'), line
    return base64.b64decode(line[1:-3])


def test_plain_with_initial_response():
    session = SaslSession()
    ir = base64.b64encode(b"\x00alice@example.org\x00pw")
    assert session.feed(b'AUTHENTICATE "PLAIN" "' + ir + b'"\r\n') == b"OK\r\n"
    assert session.conn.state is State.AUTHENTICATED and session.user == "alice@example.org"


def test_plain_without_initial_response_and_wrong_password():
    session = SaslSession()
    assert session.feed(b'AUTHENTICATE "PLAIN"\r\n') == b'""\r\n'
    wrong = base64.b64encode(b"\x00alice@example.org\x00nope")
    assert session.feed(b'"' + wrong + b'"\r\n') == b'NO "Authentication failed"\r\n'
    assert session.conn.state is State.NOT_AUTHENTICATED


def run_scram(password: str):
    client = scramp.ScramClient(["SCRAM-SHA-256"], "alice@example.org", password)
    session = SaslSession()
    first = base64.b64encode(client.get_client_first().encode())
    server_first = quoted_b64(session.feed(b'AUTHENTICATE "SCRAM-SHA-256" "' + first + b'"\r\n'))
    client.set_server_first(server_first.decode())
    final = base64.b64encode(client.get_client_final().encode())
    return client, session, session.feed(b'"' + final + b'"\r\n')


def test_scram_sha_256_final_data_in_the_sasl_response_code():
    client, session, out = run_scram("pw")
    assert out.startswith(b'OK (SASL "') and out.endswith(b'")\r\n')
    server_final = base64.b64decode(out[len(b'OK (SASL "') : -len(b'")\r\n')])
    client.set_server_final(server_final.decode())  # raises unless the server proved itself
    assert session.conn.state is State.AUTHENTICATED


def test_scram_sha_256_wrong_password():
    _, session, out = run_scram("nope")
    assert out == b'NO "Authentication failed"\r\n'
    assert session.conn.state is State.NOT_AUTHENTICATED


def test_unknown_mechanism_and_cancel():
    session = SaslSession()
    assert session.feed(b'AUTHENTICATE "DIGEST-MD5"\r\n') == b'NO "Unsupported mechanism"\r\n'
    assert session.feed(b'AUTHENTICATE "SCRAM-SHA-256"\r\n') == b'""\r\n'
    assert session.feed(b'"*"\r\n') == b'NO "Authentication cancelled"\r\n'
    assert session.exchange is None
