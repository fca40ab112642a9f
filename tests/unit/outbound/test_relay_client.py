"""The relay client against a real SMTP peer on 127.0.0.1 (the capture
relay of tests/support/smtp_capture.py)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses

import pytest

from hivemail.outbound import OutboundSettings, RecipientStatus, send_message
from tests.support.smtp_capture import SmtpCapture
from tests.unit.outbound.conftest import arun

MSG = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\n\r\nhello\r\n.leading dot\r\n.\r\nend\r\n"
D, F, T = RecipientStatus.DELIVERED, RecipientStatus.FAILED, RecipientStatus.DEFERRED


def settings(port: int, **kw) -> OutboundSettings:
    kw.setdefault("smarthost", f"127.0.0.1:{port}")
    return OutboundSettings(timeout=2.0, data_timeout=2.0, **kw)


def statuses(result) -> dict[str, RecipientStatus]:
    return {r.recipient: r.status for r in result.results}


def test_delivers_once_with_the_envelope_and_dot_stuffing():
    async def go():
        async with SmtpCapture() as relay:
            result = await send_message(settings(relay.port), "a@example.org", ["b@example.net", "c@example.net"], MSG)
            return relay, result

    relay, result = arun(go())
    assert statuses(result) == {"b@example.net": D, "c@example.net": D}
    [got] = relay.messages
    assert (got.sender, got.recipients, got.data) == ("a@example.org", ["b@example.net", "c@example.net"], MSG)
    assert b"\r\n..leading dot\r\n..\r\nend\r\n" in got.wire
    assert relay.verbs() == [b"EHLO", b"MAIL", b"RCPT", b"RCPT", b"DATA", b"QUIT"]
    assert got.mail_line == b"MAIL FROM:<a@example.org> SIZE=%d" % len(MSG)


def test_null_reverse_path_and_8bit_body():
    body = "Subject: Abwesend\r\n\r\nIch bin im Urlaub, zurück am Montag.\r\n".encode()

    async def go():
        async with SmtpCapture() as relay:
            result = await send_message(settings(relay.port), "", ["b@example.net"], body)
            return relay, result

    relay, result = arun(go())
    assert statuses(result) == {"b@example.net": D}
    [got] = relay.messages
    assert got.sender == "" and got.data == body
    assert got.mail_line == b"MAIL FROM:<> SIZE=%d BODY=8BITMIME" % len(body)


def test_per_recipient_5xx_fails_4xx_defers_and_the_rest_is_delivered():
    replies = {"gone@example.net": b"550 5.1.1 no such user", "busy@example.net": b"452 4.2.2 mailbox full"}

    async def go():
        async with SmtpCapture(rcpt_replies=replies) as relay:
            rcpts = ["gone@example.net", "ok@example.net", "busy@example.net"]
            return relay, await send_message(settings(relay.port), "a@x", rcpts, MSG)

    relay, result = arun(go())
    assert statuses(result) == {"gone@example.net": F, "ok@example.net": D, "busy@example.net": T}
    assert [r.code for r in result.results] == [550, 250, 452]
    assert not result.message_refused
    [got] = relay.messages
    assert got.recipients == ["ok@example.net"]


def test_no_recipient_accepted_means_no_data():
    async def go():
        async with SmtpCapture(rcpt_replies={"x@y": b"550 5.1.1 no"}) as relay:
            return relay, await send_message(settings(relay.port), "a@x", ["x@y"], MSG)

    relay, result = arun(go())
    assert statuses(result) == {"x@y": F}
    assert b"DATA" not in relay.verbs() and relay.messages == []


@pytest.mark.parametrize(
    ("kw", "status", "refused"),
    [
        ({"mail_reply": b"553 5.7.1 sender refused"}, F, True),
        ({"mail_reply": b"451 4.3.0 try later"}, T, False),
        ({"data_reply": b"554 5.6.0 content refused"}, F, True),
        ({"data_reply": b"451 4.3.0 disk full"}, T, False),
        ({"mail_reply": b"421 4.3.2 shutting down"}, T, False),
        ({"down": True}, T, False),
    ],
)
def test_whole_message_answers(kw, status, refused):
    async def go():
        async with SmtpCapture(**kw) as relay:
            return relay, await send_message(settings(relay.port), "a@x", ["b@y", "c@y"], MSG)

    relay, result = arun(go())
    assert statuses(result) == {"b@y": status, "c@y": status}
    assert result.message_refused is refused
    assert relay.messages == [] and relay.connections == 1
    assert result.summary


def test_relay_not_listening_defers_everything():
    async def go():
        relay = SmtpCapture()
        port = await relay.start()
        await relay.stop()
        return await send_message(settings(port), "a@x", ["b@y"], MSG)

    result = arun(go())
    assert statuses(result) == {"b@y": T}
    assert "cannot connect" in result.summary


def test_a_silent_relay_times_out():
    async def go():
        async with SmtpCapture(silent=True) as relay:
            loop = asyncio.get_running_loop()
            start = loop.time()
            result = await send_message(dataclasses.replace(settings(relay.port), timeout=0.3), "a@x", ["b@y"], MSG)
            return result, loop.time() - start

    result, elapsed = arun(go())
    assert statuses(result) == {"b@y": T} and "timeout" in result.summary
    assert elapsed < 2


# -- STARTTLS and AUTH ------------------------------------------------------------


def tls_settings(port: int, **kw) -> OutboundSettings:
    return settings(port, smarthost=f"localhost:{port}", **kw)


def run_tls(relay_kw, client_kw, rcpts=("b@y",)):
    async def go():
        async with SmtpCapture(**relay_kw) as relay:
            return relay, await send_message(tls_settings(relay.port, **client_kw), "a@x", list(rcpts), MSG)

    return arun(go())


def test_starttls_with_a_self_signed_certificate_is_refused_by_default(relay_cert):
    relay, result = run_tls({"tls": relay_cert[1]}, {})
    assert statuses(result) == {"b@y": T}
    assert "TLS" in result.summary and "certificate" in result.summary.lower()
    assert relay.messages == [] and b"MAIL" not in relay.verbs()


@pytest.mark.parametrize("trust", ["ca_file", "no_verify"])
def test_starttls_with_a_trusted_or_unverified_certificate(relay_cert, trust):
    client = {"tls_ca_file": str(relay_cert[0])} if trust == "ca_file" else {"tls_verify": False}
    relay, result = run_tls({"tls": relay_cert[1]}, client)
    assert statuses(result) == {"b@y": D}
    [got] = relay.messages
    assert got.tls and got.data == MSG
    assert [v for _, v in relay.commands][:2] == [b"EHLO localhost", b"STARTTLS"]
    # EHLO STARTTLS in clear; EHLO MAIL RCPT DATA QUIT over TLS
    assert [tls for tls, _ in relay.commands] == [False, False] + [True] * 5


def test_the_name_in_the_certificate_is_checked(relay_cert):
    # The certificate names "localhost"; reached as 127.0.0.1 it must not verify.
    async def go():
        async with SmtpCapture(tls=relay_cert[1]) as relay:
            s = settings(relay.port, tls_ca_file=str(relay_cert[0]))
            return relay, await send_message(s, "a@x", ["b@y"], MSG)

    relay, result = arun(go())
    assert statuses(result) == {"b@y": T} and relay.messages == []


def test_starttls_required_but_not_offered_defers_without_sending():
    relay, result = run_tls({}, {"starttls": "required"})
    assert statuses(result) == {"b@y": T} and "STARTTLS" in result.summary
    assert relay.verbs() == [b"EHLO"]


def test_starttls_off_sends_in_clear_even_if_offered(relay_cert):
    relay, result = run_tls({"tls": relay_cert[1]}, {"starttls": "off"})
    assert statuses(result) == {"b@y": D}
    assert not relay.messages[0].tls and b"STARTTLS" not in relay.verbs()


@pytest.mark.parametrize("mechanisms", [("PLAIN", "LOGIN"), ("LOGIN",)])
def test_auth_over_tls(relay_cert, mechanisms):
    relay, result = run_tls(
        {"tls": relay_cert[1], "credentials": ("relay-user", "s3cret"), "auth_mechanisms": mechanisms},
        {"tls_verify": False, "auth_user": "relay-user", "auth_password": "s3cret"},
    )
    assert statuses(result) == {"b@y": D}
    [got] = relay.messages
    assert got.tls and got.auth_user == "relay-user"
    auth_lines = [(tls, line) for tls, line in relay.commands if line.startswith(b"AUTH")]
    assert auth_lines and all(tls for tls, _ in auth_lines)
    if mechanisms == ("PLAIN", "LOGIN"):
        assert auth_lines == [(True, b"AUTH PLAIN " + base64.b64encode(b"\0relay-user\0s3cret"))]


def test_no_credentials_in_clear():
    relay, result = run_tls(
        {"credentials": ("relay-user", "s3cret")},
        {"auth_user": "relay-user", "auth_password": "s3cret"},
    )
    assert statuses(result) == {"b@y": T} and "TLS" in result.summary
    sent = b"\n".join(line for _, line in relay.commands)
    assert b"AUTH" not in sent and base64.b64encode(b"s3cret") not in sent and b"s3cret" not in sent
    assert relay.messages == []


def test_auth_in_clear_when_explicitly_allowed():
    relay, result = run_tls(
        {"credentials": ("relay-user", "s3cret")},
        {"auth_user": "relay-user", "auth_password": "s3cret", "auth_without_tls": True},
    )
    assert statuses(result) == {"b@y": D}
    assert relay.messages[0].auth_user == "relay-user" and not relay.messages[0].tls


def test_wrong_password_defers(relay_cert):
    relay, result = run_tls(
        {"tls": relay_cert[1], "credentials": ("relay-user", "s3cret")},
        {"tls_verify": False, "auth_user": "relay-user", "auth_password": "wrong"},
    )
    assert statuses(result) == {"b@y": T} and "535" in result.summary
    assert b"MAIL" not in relay.verbs()


def test_plaintext_injected_after_starttls_is_refused(relay_cert):
    relay, result = run_tls(
        {"tls": relay_cert[1], "inject_after_starttls": b"250 2.0.0 injected"}, {"tls_verify": False}
    )
    assert statuses(result) == {"b@y": T} and "data after 220 to STARTTLS" in result.summary
    assert relay.messages == [] and relay.verbs() == [b"EHLO", b"STARTTLS"]


def test_message_over_the_relays_size_is_refused_before_mail():
    big = b"Subject: big\r\n\r\n" + b"x" * 1_000_001 + b"\r\n"  # the capture relay says SIZE 1000000

    async def go():
        async with SmtpCapture() as relay:
            return relay, await send_message(settings(relay.port), "a@x", ["b@y"], big)

    relay, result = arun(go())
    assert statuses(result) == {"b@y": F} and result.message_refused and "SIZE" in result.summary
    assert b"MAIL" not in relay.verbs()


def test_non_ascii_address_needs_smtputf8():
    async def go():
        async with SmtpCapture() as relay:  # no SMTPUTF8 in its EHLO
            return relay, await send_message(settings(relay.port), "a@x", ["jörg@example.de"], MSG)

    relay, result = arun(go())
    assert statuses(result) == {"jörg@example.de": F} and "SMTPUTF8" in result.summary
    assert b"MAIL" not in relay.verbs()
