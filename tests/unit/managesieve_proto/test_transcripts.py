"""RFC 5804's examples as transcripts: client bytes in, exact server bytes out.

Each one is fed whole, byte by byte, in fixed chunks and in random chunks
(``run_in_pieces``), and must give the same events and bytes every time.
Where our bytes differ from the RFC's text only by a choice the RFC leaves
open (``OK`` vs ``Ok``, quoted vs literal, a SHOULD response code) the test
says so.
"""

import base64

import pytest

from hivemail.managesieve_proto import (
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    ManageSieveServerConnection,
    No,
    Ok,
    ResponseCode,
    SaslChallenge,
    State,
    capabilities,
)

from ._helpers import PLAIN_OK, login, run_in_pieces

GREETING = (
    b'"IMPLEMENTATION" "hivemail"\r\n"SASL" "PLAIN"\r\n"SIEVE" "fileinto vacation"\r\n'
    b'"STARTTLS"\r\n"UNAUTHENTICATE"\r\n"VERSION" "1.0"\r\nOK\r\n'
)
TLS_CAPS = (
    b'"IMPLEMENTATION" "hivemail"\r\n"SASL" "PLAIN"\r\n"SIEVE" "fileinto vacation"\r\n'
    b'"UNAUTHENTICATE"\r\n"VERSION" "1.0"\r\nOK\r\n'
)
B64_OK = base64.b64encode(PLAIN_OK)


def test_greeting_and_capability_section_1_7():
    # Section 1.7 / 2.4: capabilities are sent at connect and on CAPABILITY.
    session = run_in_pieces(b"CAPABILITY\r\n")
    assert session.out == GREETING + GREETING


def test_capability_lines_match_section_1_7_example():
    caps = capabilities(
        implementation="Example1 ManageSieved v001", sasl=["DIGEST-MD5", "GSSAPI"], sieve=["fileinto", "vacation"],
        starttls=True, notify=["xmpp", "mailto"], maxredirects=5, unauthenticate=False,
    )
    conn = ManageSieveServerConnection()
    conn.send(caps)
    conn.send(Ok())
    # The RFC's example mixes case ("IMPlemENTATION") to show names are
    # case-insensitive; we send them upper-case, in this fixed order.
    assert conn.data_to_send() == (
        b'"IMPLEMENTATION" "Example1 ManageSieved v001"\r\n"SASL" "DIGEST-MD5 GSSAPI"\r\n'
        b'"SIEVE" "fileinto vacation"\r\n"STARTTLS"\r\n"NOTIFY" "xmpp mailto"\r\n'
        b'"MAXREDIRECTS" "5"\r\n"VERSION" "1.0"\r\nOK\r\n'
    )


def test_capability_after_authentication_has_owner_and_no_starttls():
    session = run_in_pieces(b'AUTHENTICATE "PLAIN" "' + B64_OK + b'"\r\nCAPABILITY\r\n')
    assert session.out == GREETING + b"OK\r\n" + (
        b'"IMPLEMENTATION" "hivemail"\r\n"SASL" "PLAIN"\r\n"SIEVE" "fileinto vacation"\r\n'
        b'"OWNER" "tim"\r\n"UNAUTHENTICATE"\r\n"VERSION" "1.0"\r\nOK\r\n'
    )


def test_starttls_then_failed_plain_logins_section_2_1():
    # Section 2.1, the PLAIN-under-TLS example.  The RFC's initial responses
    # ("QJIrweAPyo6Q1T9xu", 17 characters) are not valid base64; these are
    # wrong credentials that are.
    wrong = [base64.b64encode(b"\x00tim\x00wrong" + bytes([n])) for n in range(3)]
    data = [b"STARTTLS\r\n", b"".join(b'Authenticate "PLAIN" "' + w + b'"\r\n' for w in wrong)]
    session = run_in_pieces(data)
    assert session.out == GREETING + b"OK\r\n" + TLS_CAPS + (
        b"NO\r\nNO\r\n" b'BYE "Too many failed authentication attempts"\r\n'
    )
    assert session.events[-1] == ConnectionClosed("bye")
    assert session.conn.tls_active and session.conn.state is State.LOGOUT


def test_starttls_section_2_2():
    session = run_in_pieces([b"StartTls\r\n", b"CAPABILITY\r\n"])
    # OK, then (after the handshake) the capabilities again without STARTTLS.
    assert session.out == GREETING + b"OK\r\n" + TLS_CAPS + TLS_CAPS


def test_authenticate_plain_with_initial_response():
    session = run_in_pieces(b'AUTHENTICATE "PLAIN" "' + B64_OK + b'"\r\nLISTSCRIPTS\r\n')
    assert session.out == GREETING + b"OK\r\nOK\r\n"
    assert session.conn.state is State.AUTHENTICATED


def test_authenticate_plain_initial_response_as_literal():
    # As the GSSAPI example: AUTHENTICATE "GSSAPI" {1488+} CRLF data CRLF.
    session = run_in_pieces(b'AUTHENTICATE "PLAIN" {%d+}\r\n' % len(B64_OK) + B64_OK + b"\r\nNOOP\r\n")
    assert session.out == GREETING + b'OK\r\nOK "NOOP completed"\r\n'


def test_authenticate_plain_without_initial_response():
    # The server sends an empty challenge as "" (section 2.1: "an empty
    # challenge/response is sent as an empty string").
    session = run_in_pieces(b'AUTHENTICATE "PLAIN"\r\n"' + B64_OK + b'"\r\n')
    assert session.out == GREETING + b'""\r\nOK\r\n'
    assert [type(e) for e in session.events] == [CommandReceived, AuthResponse]


def test_authenticate_response_as_literal_and_cancel():
    data = b'AUTHENTICATE "PLAIN"\r\n{%d+}\r\n' % len(B64_OK) + B64_OK + b"\r\n"
    assert run_in_pieces(data).out == GREETING + b'""\r\nOK\r\n'
    cancelled = run_in_pieces(b'AUTHENTICATE "PLAIN"\r\n"*"\r\nNOOP\r\n')
    assert cancelled.out == GREETING + b'""\r\nNO "Authentication cancelled"\r\nOK "NOOP completed"\r\n'
    assert cancelled.conn.state is State.NOT_AUTHENTICATED


class DigestMd5Session:
    """Replays the DIGEST-MD5 example of section 2.1 (the mechanism is only data here)."""

    CHALLENGE = base64.b64decode(
        "cmVhbG09ImVsd29vZC5pbm5vc29mdC5leGFtcGxlLmNvbSIsbm9uY2U9Ik9BNk1HOXRFUUdtMmhoIixxb3A9ImF1dGgiLGFsZ29yaXRobT1tZDUtc2VzcyxjaGFyc2V0PXV0Zi04"
    )
    RSPAUTH = base64.b64decode("cnNwYXV0aD1lYTQwZjYwMzM1YzQyN2I1NTI3Yjg0ZGJhYmNkZmZmZA==")


CLIENT_DIGEST = (
    b"Y2hhcnNldD11dGYtOCx1c2VybmFtZT0iY2hyaXMiLHJlYWxtPSJlbHdvb2QuaW5ub3NvZnQuZXhhbXBsZS5jb20iLG5vbmNlPSJPQTZNRzl0RVFHbTJo"
    b"aCIsbmM9MDAwMDAwMDEsY25vbmNlPSJPQTZNSFhoNlZxVHJSayIsZGlnZXN0LXVyaT0ic2lldmUvZWx3b29kLmlubm9zb2Z0LmV4YW1wbGUuY29t"
    b"IixyZXNwb25zZT1kMzg4ZGFkOTBkNGJiZDc2MGExNTIzMjFmMjE0M2FmNyxxb3A9YXV0aA=="
)


def digest_setup(final_in_ok: bool):
    def setup(session):
        def handle(request):
            session.conn.send(SaslChallenge(DigestMd5Session.CHALLENGE))

        def auth_result(data):
            if data == base64.b64decode(CLIENT_DIGEST):
                if final_in_ok:
                    session.conn.send(Ok(code=ResponseCode.sasl(DigestMd5Session.RSPAUTH)))
                else:
                    session.conn.send(SaslChallenge(DigestMd5Session.RSPAUTH))
            elif data == b"":
                session.conn.send(Ok())
            else:
                session.conn.send(No())

        session.handle = handle
        session._auth_result = auth_result

    return setup


def test_digest_md5_example_final_data_in_sasl_response_code():
    session = run_in_pieces(b'Authenticate "DIGEST-MD5"\r\n"' + CLIENT_DIGEST + b'"\r\n', setup=digest_setup(True))
    assert session.out == GREETING + (
        b'"cmVhbG09ImVsd29vZC5pbm5vc29mdC5leGFtcGxlLmNvbSIsbm9uY2U9Ik9BNk1HOXRFUUdtMmhoIixxb3A9ImF1dGgiLGFsZ29yaXRobT1tZDUtc2VzcyxjaGFyc2V0PXV0Zi04"\r\n'
        b'OK (SASL "cnNwYXV0aD1lYTQwZjYwMzM1YzQyN2I1NTI3Yjg0ZGJhYmNkZmZmZA==")\r\n'
    )
    assert session.conn.state is State.AUTHENTICATED


def test_digest_md5_example_with_literals_and_empty_final_response():
    # The client answers with a {300+} literal and finally with "" (empty).
    # We send challenges quoted (they fit), where the RFC's server used {136}.
    data = b'Authenticate "DIGEST-MD5"\r\n{%d+}\r\n' % len(CLIENT_DIGEST) + CLIENT_DIGEST + b'\r\n""\r\n'
    session = run_in_pieces(data, setup=digest_setup(False))
    assert session.out.endswith(b'"cnNwYXV0aD1lYTQwZjYwMzM1YzQyN2I1NTI3Yjg0ZGJhYmNkZmZmZA=="\r\nOK\r\n')
    assert [e.data for e in session.events if isinstance(e, AuthResponse)] == [base64.b64decode(CLIENT_DIGEST), b""]


SCRIPT_110 = (
    b'require ["fileinto"];\r\n\r\nif envelope :contains "to" "tmartin+sent" {\r\n  fileinto "INBOX.sent";\r\n}\r\n'
)
SCRIPT_190 = (
    b'redirect "111@example.net";\r\n\r\nif size :under 10k {\r\n    redirect "mobile@cell.example.com";\r\n}\r\n\r\n'
    b'if envelope :contains "to" "tmartin+lists" {\r\n    redirect "lists@groups.example.com";\r\n}\r\n'
)


def test_putscript_section_2_6():
    assert len(SCRIPT_190) == 190  # as in the RFC; its "{110+}" example is 99 octets with CRLFs
    data = (
        b'Putscript "foo" {31+}\r\n#comment\r\nInvalidSieveCommand\r\n\r\n'
        b'Putscript "mysievescript" {%d+}\r\n' % len(SCRIPT_110) + SCRIPT_110 + b"\r\n"
        b'Putscript "myforwards" {190+}\r\n' + SCRIPT_190 + b"\r\n"
    )
    session = run_in_pieces(data, setup=login)
    assert session.out == (
        b'NO "line 2: Syntax error"\r\n'
        b"OK\r\n"
        b'OK (WARNINGS) "line 8: server redirect action limit is 2, this redirect might be ignored"\r\n'
    )
    assert session.scripts == {"mysievescript": SCRIPT_110, "myforwards": SCRIPT_190}


def test_synchronizing_literal_is_read_without_a_continuation():
    # ManageSieve has no "+" continuation: {n} data follows at once, as {n+}.
    session = run_in_pieces(b'PUTSCRIPT "s" {4}\r\nkeep\r\nGETSCRIPT "s"\r\n', setup=login)
    assert session.out == b"OK\r\n{4}\r\nkeep\r\nOK\r\n"


def listing_setup(session):
    login(session)
    session.scripts = {n: b"keep;" for n in ("summer_script", "vacation_script", 'clever"script', "main_script")}
    session.active = "main_script"


def test_listscripts_section_2_7():
    session = run_in_pieces(b"Listscripts\r\n", setup=listing_setup)
    # Exactly the RFC's bytes, the {13} literal for clever"script included
    # (we send names with '"' or '\\' as literals), except "OK" for "OK".
    assert session.out == (
        b'"summer_script"\r\n"vacation_script"\r\n{13}\r\nclever"script\r\n"main_script" ACTIVE\r\nOK\r\n'
    )


def test_setactive_section_2_8():
    data = b'Setactive "vacation_script"\r\nSetactive ""\r\nSetactive "baz"\r\n'
    session = run_in_pieces(data, setup=listing_setup)
    assert session.out == b'OK\r\nOK\r\nNO (NONEXISTENT) "There is no script by that name"\r\n'
    assert session.active is None


def test_getscript_section_2_9():
    script = b'#this is my wonderful script\r\nreject "I reject all";\r\n'

    def setup(session):
        login(session)
        session.scripts["myscript"] = script

    session = run_in_pieces(b'Getscript "myscript"\r\nGetscript "nope"\r\n', setup=setup)
    assert session.out == (
        b'{54}\r\n#this is my wonderful script\r\nreject "I reject all";\r\n\r\nOK\r\n'
        b'NO (NONEXISTENT) "There is no script by that name"\r\n'
    )


def test_deletescript_section_2_10():
    def setup(session):
        login(session)
        session.scripts = {"foo": b"keep;", "baz": b"keep;"}
        session.active = "baz"

    session = run_in_pieces(b'Deletescript "foo"\r\nDeletescript "baz"\r\n', setup=setup)
    assert session.out == b'OK\r\nNO (ACTIVE) "You may not delete an active script"\r\n'


def test_renamescript_section_2_11():
    def setup(session):
        login(session)
        session.scripts = {"foo": b"keep;", "baz": b"keep;"}

    session = run_in_pieces(b'Renamescript "foo" "bar"\r\nRenamescript "baz" "bar"\r\n', setup=setup)
    # The RFC's NO has no code; ALREADYEXISTS is what it says "SHOULD be included".
    assert session.out == b'OK\r\nNO (ALREADYEXISTS) "bar already exists"\r\n'


def test_checkscript_section_2_12():
    session = run_in_pieces(b"CheckScript {31+}\r\n#comment\r\nInvalidSieveCommand\r\n\r\n", setup=login)
    assert session.out == b'NO "line 2: Syntax error"\r\n'


def test_noop_section_2_13():
    session = run_in_pieces(b'NOOP\r\nNOOP "STARTTLS-SYNC-42"\r\nNOOP {16+}\r\nSTARTTLS-SYNC-42\r\n')
    # The RFC's server sends the tag as a {16} literal; quoted is equally valid.
    assert session.out == GREETING + (
        b'OK "NOOP completed"\r\nOK (TAG "STARTTLS-SYNC-42") "Done"\r\nOK (TAG "STARTTLS-SYNC-42") "Done"\r\n'
    )


def test_havespace_section_2_5():
    session = run_in_pieces(b'HAVESPACE "myscript" 9999\r\nHAVESPACE "myscript" 99999\r\nHAVESPACE "foobar" 435\r\n',
                            setup=login)
    assert session.out == b'OK\r\nNO (QUOTA/MAXSIZE) "Quota exceeded"\r\nOK\r\n'


def test_logout_section_2_3_ignores_what_follows():
    session = run_in_pieces(b"Logout\r\nCAPABILITY\r\nNOOP\r\n")
    assert session.out == GREETING + b"OK\r\n"
    assert session.events[-1] == ConnectionClosed("logout")
    assert session.conn.state is State.LOGOUT


def test_unauthenticate_section_2_14_1():
    session = run_in_pieces(b'UNAUTHENTICATE\r\nLISTSCRIPTS\r\nUNAUTHENTICATE\r\n', setup=login)
    assert session.out == (
        b"OK\r\n"
        b'NO "LISTSCRIPTS is not allowed in the non-authenticated state"\r\n'
        b'NO "UNAUTHENTICATE is not allowed in the non-authenticated state"\r\n'
    )


def test_full_session():
    data = [b"CAPABILITY\r\nSTARTTLS\r\n", (
        b'AUTHENTICATE "PLAIN" "' + B64_OK + b'"\r\n'
        b'HAVESPACE "vacation" 120\r\n'
        b'PUTSCRIPT "vacation" {28+}\r\nrequire "vacation";\r\nkeep;\r\n\r\n'
        b'SETACTIVE "vacation"\r\nLISTSCRIPTS\r\nGETSCRIPT "vacation"\r\n'
        b'RENAMESCRIPT "vacation" "away"\r\nLISTSCRIPTS\r\nSETACTIVE ""\r\nDELETESCRIPT "away"\r\n'
        b'LISTSCRIPTS\r\nLOGOUT\r\n'
    )]
    session = run_in_pieces(data)
    assert session.out == GREETING + GREETING + b"OK\r\n" + TLS_CAPS + (
        b"OK\r\nOK\r\nOK\r\nOK\r\n"
        b'"vacation" ACTIVE\r\nOK\r\n'
        b'{28}\r\nrequire "vacation";\r\nkeep;\r\n\r\nOK\r\n'
        b"OK\r\n"
        b'"away" ACTIVE\r\nOK\r\n'
        b"OK\r\nOK\r\n"
        b"OK\r\n"
        b"OK\r\n"
    )
    assert session.events[-1] == ConnectionClosed("logout")


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_bare_lf_is_tolerated(line_end):
    session = run_in_pieces(b"NOOP" + line_end + b'NOOP "x"' + line_end)
    assert session.out == GREETING + b'OK "NOOP completed"\r\nOK (TAG "x") "Done"\r\n'
