"""SASL exchanges, driven with scramp's client as the real peer."""

import scramp

from hivemail.auth.passwords import make_scram
from hivemail.auth.sasl import (
    Challenge,
    CheckPassword,
    Failure,
    NeedScramRecord,
    PlainExchange,
    ScramExchange,
    Success,
    new_exchange,
)


def test_plain_parses_authcid_and_password():
    assert PlainExchange().step(b"\x00alice\x00s3cret") == CheckPassword("", "alice", "s3cret")
    assert PlainExchange().step(b"alice\x00alice\x00pw") == CheckPassword("alice", "alice", "pw")


def test_plain_rejects_proxy_and_garbage():
    assert isinstance(PlainExchange().step(b"bob\x00alice\x00pw"), Failure)
    assert isinstance(PlainExchange().step(b"alice\x00pw"), Failure)
    assert isinstance(PlainExchange().step(b"\x00\xff\x00pw"), Failure)
    assert isinstance(PlainExchange().step(b"\x00alice\x00"), Failure)


def test_plain_empty_initial_response_asks_for_more():
    assert PlainExchange().step(b"") == Challenge(b"")


def run_scram(password_stored: str, password_sent: str, user: str = "alice@example.org"):
    client = scramp.ScramClient(["SCRAM-SHA-256"], user, password_sent)
    ex = ScramExchange()
    step = ex.step(client.get_client_first().encode())
    assert step == NeedScramRecord(user)
    step = ex.provide(make_scram(password_stored) if password_stored else None)
    assert isinstance(step, Challenge)
    client.set_server_first(step.data.decode())
    step = ex.step(client.get_client_final().encode())
    return client, step


def test_scram_succeeds_and_server_proves_itself():
    client, step = run_scram("pw", "pw")
    assert isinstance(step, Success) and step.authcid == "alice@example.org"
    client.set_server_final(step.final.decode())  # raises if the server signature is wrong


def test_scram_wrong_password_fails():
    _, step = run_scram("pw", "nope")
    assert isinstance(step, Failure)


def test_scram_unknown_user_runs_to_the_end_then_fails():
    _, step = run_scram("", "pw")
    assert isinstance(step, Failure)


def test_scram_username_escapes():
    client = scramp.ScramClient(["SCRAM-SHA-256"], "a,b=c", "pw")
    assert ScramExchange().step(client.get_client_first().encode()) == NeedScramRecord("a,b=c")


def test_unknown_mechanism():
    assert new_exchange("CRAM-MD5") is None
    assert isinstance(new_exchange("scram-sha-256"), ScramExchange)
