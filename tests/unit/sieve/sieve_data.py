"""Messages and a runner shared by the Sieve tests (not a test module)."""

from __future__ import annotations

import textwrap

from hivemail.sieve import Context, Envelope, Limits, Outcome, SieveMessage, evaluate, parse


def message(text: str, *, pad_to: int = 0) -> bytes:
    """A message from an indented triple-quoted string, CRLF line ends; ``pad_to`` grows the body."""
    raw = textwrap.dedent(text).lstrip("\n").replace("\n", "\r\n").encode()
    if len(raw) < pad_to:
        raw += b"x" * (pad_to - len(raw))
    return raw


# RFC 5228 section 1.2, "Message A" and "Message B", verbatim.
MESSAGE_A = message(
    """
    Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)
    From: coyote@desert.example.org
    To: roadrunner@acme.example.com
    Subject: I have a present for you

    Look, I'm sorry about the whole anvil thing, and I really
    didn't mean to try and drop it on you from the top of the
    cliff.  I want to try to make it up to you.  I've got some
    great birdseed over here at my place--top of the line
    stuff--and if you come by, I'll have it all wrapped up
    for you.  I'm really sorry for all the problems I've caused
    for you over the years, but I know we can work this out.
    --
    Wile E. Coyote   "Super Genius"   coyote@desert.example.org
    """
)

MESSAGE_B = message(
    """
    From: youcouldberich!@reply-by-postal-mail.invalid
    Sender: b1ff@de.res.example.com
    To: rube@landru.example.com
    Date:  Mon, 31 Mar 1997 18:26:10 -0800
    Subject: $$$ YOU, TOO, CAN BE A MILLIONAIRE! $$$

    YOU MAY HAVE ALREADY WON TEN MILLION DOLLARS, BUT I DOUBT
    IT!  SO JUST POST THIS TO SIX HUNDRED NEWSGROUPS!  IT WILL
    GUARANTEE THAT YOU GET AT LEAST FIVE RESPONSES WITH MONEY!
    MONEY! MONEY! COLD HARD CASH!  YOU WILL RECEIVE OVER
    $20,000 IN LESS THAN TWO MONTHS!  AND IT'S LEGAL!!!!!!!!!
    !!!!!!!!!!!!!!!!!!111111111!!!!!!!11111111111!!1  JUST
    """
)


def headers_only(*lines: str, body: str = "hello\r\n", pad_to: int = 0) -> bytes:
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
    if len(raw) < pad_to:
        raw += b"x" * (pad_to - len(raw))
    return raw


def run(
    script: str,
    raw: bytes = MESSAGE_A,
    *,
    mail_from: str = "sender@example.org",
    rcpt_to: str = "me@example.com",
    limits: Limits = Limits(),
    context: Context = Context(),
) -> Outcome:
    outcome = evaluate(
        parse(script), SieveMessage.from_bytes(raw), Envelope(mail_from, rcpt_to), limits=limits, context=context
    )
    assert not any(e.startswith("internal error") for e in outcome.errors), outcome.errors
    return outcome


def explicit(outcome: Outcome) -> list:
    """The actions without the implicit keep."""
    return [a for a in outcome.actions if not getattr(a, "implicit", False)]
