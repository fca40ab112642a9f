"""Every example script of RFC 5228, verbatim, with the outcome the RFC states."""

from __future__ import annotations

import pytest

from hivemail.sieve import Discard, FileInto, Keep, Redirect, SieveError, parse
from tests.unit.sieve.sieve_data import MESSAGE_A, MESSAGE_B, explicit, headers_only, run

IMPLICIT_KEEP = [Keep(implicit=True)]
BIG = headers_only("From: a@example.com", "Subject: big", pad_to=200 * 1024)


# Section 2.3
HASH_COMMENT = """if size :over 100k { # this is a comment
   discard;
}
"""
BRACKET_COMMENT = """if size :over 100K { /* this is a comment
   this is still a comment */ discard /* this is a comment
   */ ;
}
"""


@pytest.mark.parametrize("script", [HASH_COMMENT, BRACKET_COMMENT])
def test_comments_section_2_3(script: str) -> None:
    assert list(run(script, BIG).actions) == [Discard()]
    assert list(run(script, MESSAGE_A).actions) == IMPLICIT_KEEP


# Section 2.4.2.4: "message B is discarded, since the specified test string is equivalent to "$$$"."
ENCODED = """require "encoded-character";
if header :contains "Subject" "$${hex:24 24}" {
   discard;
}
"""


def test_encoded_character_example_discards_message_b() -> None:
    assert list(run(ENCODED, MESSAGE_B).actions) == [Discard()]
    assert list(run(ENCODED, MESSAGE_A).actions) == IMPLICIT_KEEP


# Section 2.5
TEST_LIST = """if anyof (not exists ["From", "Date"],
     header :contains "from" "fool@example.com") {
   discard;
}
"""


def test_test_list_example() -> None:
    assert list(run(TEST_LIST, MESSAGE_A).actions) == IMPLICIT_KEEP
    assert list(run(TEST_LIST, headers_only("From: x@example.com")).actions) == [Discard()]
    fool = headers_only("From: Fool <fool@example.com>", "Date: Tue, 1 Apr 1997 09:06:31 -0800")
    assert list(run(TEST_LIST, fool).actions) == [Discard()]


# Section 2.7.3: "would discard any message with subjects like "You can MAKE
# MONEY FAST", but not "You can Make Money Fast"".
OCTET = """if header :contains :comparator "i;octet" "Subject"
     "MAKE MONEY FAST" {
   discard;
}
"""


def test_octet_comparator_example_is_case_sensitive() -> None:
    assert list(run(OCTET, headers_only("Subject: You can MAKE MONEY FAST")).actions) == [Discard()]
    assert list(run(OCTET, headers_only("Subject: You can Make Money Fast")).actions) == IMPLICIT_KEEP


# Section 3.1: "both messages A and B are dropped"
IF_ELSIF = """require "fileinto";
if header :contains "from" "coyote" {
   discard;
} elsif header :contains ["subject"] ["$$$"] {
   discard;
} else {
   fileinto "INBOX";
}
"""


def test_if_elsif_else_drops_a_and_b() -> None:
    assert list(run(IF_ELSIF, MESSAGE_A).actions) == [Discard()]
    assert list(run(IF_ELSIF, MESSAGE_B).actions) == [Discard()]
    assert list(run(IF_ELSIF, headers_only("From: x@example.com")).actions) == [FileInto("INBOX")]


REDIRECTS = """if header :contains ["From"] ["coyote"] {
   redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
}
"""


@pytest.mark.parametrize(
    "raw, address",
    [(MESSAGE_A, "acm@example.com"), (MESSAGE_B, "postmaster@example.com"), (headers_only("From: x@y.org"), "field@example.com")],
)
def test_redirect_chain_example(raw: bytes, address: str) -> None:
    assert list(run(REDIRECTS, raw).actions) == [Redirect(address)]


# Section 3.2
@pytest.mark.parametrize("script", ['require ["fileinto", "reject"];', 'require "fileinto";\nrequire "vacation";'])
def test_require_examples_parse(script: str) -> None:
    assert parse(script).extensions >= {"fileinto"}


# Section 4.1: "message A is filed into mailbox "INBOX.harassment"."
FILEINTO = """require "fileinto";
if header :contains ["from"] "coyote" {
   fileinto "INBOX.harassment";
}
"""


def test_fileinto_example() -> None:
    assert list(run(FILEINTO, MESSAGE_A).actions) == [FileInto("INBOX.harassment")]
    assert list(run(FILEINTO, MESSAGE_B).actions) == IMPLICIT_KEEP


def test_redirect_all_mail_example() -> None:
    # Section 4.2; redirect cancels the implicit keep.
    outcome = run('redirect "bart@example.com";')
    assert list(outcome.actions) == [Redirect("bart@example.com")]
    assert not outcome.implicit_keep


# Section 4.4
def test_discard_example() -> None:
    script = """if header :contains ["from"] ["idiot@example.com"] {
   discard;
}
"""
    assert list(run(script, headers_only("From: The Idiot <idiot@example.com>")).actions) == [Discard()]
    assert list(run(script, MESSAGE_A).actions) == IMPLICIT_KEEP


# Section 5 (size): examples with 1M
@pytest.mark.parametrize(
    "script", ["if size :under 1M { keep; } else { discard; }", "if not size :under 1M { discard; }"]
)
def test_size_examples(script: str) -> None:
    huge = headers_only("From: a@b.example", pad_to=(1 << 20) + 10)
    assert list(run(script, huge).actions) == [Discard()]
    assert Discard() not in run(script, MESSAGE_A).actions


def test_size_over_500k_discard() -> None:
    assert list(run("if size :over 500K { discard; }", BIG).actions) == IMPLICIT_KEEP
    assert list(run("if size :over 500K { discard; }", headers_only("A: b", pad_to=600 * 1024)).actions) == [Discard()]


# Section 5.1
def test_address_is_all_example() -> None:
    script = """if address :is :all "from" "tim@example.com" {
   discard;
}
"""
    assert list(run(script, headers_only('From: "Tim" <TIM@example.com>')).actions) == [Discard()]
    assert list(run(script, headers_only("From: timothy@example.com")).actions) == IMPLICIT_KEEP


@pytest.mark.parametrize(
    "test, expected",
    [
        ("allof (false, false)", False),
        ("allof (false, true)", False),
        ("allof (true,  true)", True),
        ("anyof (false, false)", False),
        ("anyof (false, true)", True),
        ("anyof (true,  true)", True),
    ],
)
def test_allof_anyof_truth_tables(test: str, expected: bool) -> None:
    outcome = run(f"if {test} {{ discard; }}")
    assert (list(outcome.actions) == [Discard()]) is expected


# Section 5.4
def test_envelope_example() -> None:
    script = """require "envelope";
if envelope :all :is "from" "tim@example.com" {
   discard;
}
"""
    assert list(run(script, mail_from="tim@example.com").actions) == [Discard()]
    assert list(run(script, mail_from="tom@example.com").actions) == IMPLICIT_KEEP


# Section 5.5
def test_exists_example() -> None:
    script = """if not exists ["From","Date"] {
   discard;
}
"""
    assert list(run(script, MESSAGE_A).actions) == IMPLICIT_KEEP
    assert list(run(script, headers_only("From: a@b.example")).actions) == [Discard()]


# Section 9, verbatim.  "Note that it does not make use of the implicit keep."
EXTENDED = """#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
"""


@pytest.mark.parametrize(
    "raw, expected",
    [
        (headers_only("Sender: owner-ietf-mta-filters@imc.org", "To: me@example.com"), FileInto("filter")),
        (headers_only("From: boss@example.com", "To: x@elsewhere.example.net"), Keep()),
        (headers_only("From: a@else.example.net", "To: colleague@example.com"), Keep()),
        (MESSAGE_A, FileInto("spam")),  # not to me@example.com
        (MESSAGE_B, FileInto("spam")),
        (headers_only("From: a@b.example.net", "Cc: me@example.com", "Subject: Make Money FAST now"), FileInto("spam")),
        (headers_only("From: a@b.example.net", "Cc: me@example.com", "Subject: lunch?"), FileInto("personal")),
    ],
)
def test_extended_example_section_9(raw: bytes, expected: object) -> None:
    outcome = run(EXTENDED, raw)
    assert list(outcome.actions) == [expected]
    assert not outcome.implicit_keep


def test_stop_takes_implicit_keep_when_not_cancelled() -> None:
    # Section 3.3: "If the implicit keep has not been cancelled, then it is taken."
    assert list(run('stop; discard;').actions) == IMPLICIT_KEEP
    assert explicit(run('discard; stop; keep;')) == [Discard()]


def test_verbatim_typos_are_refused() -> None:
    with pytest.raises(SieveError):
        parse('if header :is "From" "x" { remove "a"; }')
