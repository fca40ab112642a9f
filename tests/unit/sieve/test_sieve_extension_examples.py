"""The example scripts of RFC 5229, 5230, 5232 and 5233, verbatim, with the outcomes they state."""

from __future__ import annotations

import pytest

from hivemail.sieve import FileInto, Keep, Redirect, SieveError, Vacation, parse
from tests.unit.sieve.sieve_data import explicit, headers_only, run

# -- RFC 5229 (variables) -------------------------------------------------------

# Section 3.2, verbatim (the RFC's "fileinfo" typo included).
MATCH_VARIABLES = """require ["fileinto", "variables"];

if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}

# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinfo "INBOX.lists.${1}"; stop;
}

# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} is always the empty string
    # ${2} is part of the domain name ("ACME.Example")
    fileinto "INBOX.business.${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}

if anyof (true, address :domain :matches "To" "*.com") {
    # The second test is never evaluated, so there are
    # still no match variables set.
    stop;
}
"""
FIXED = MATCH_VARIABLES.replace("fileinfo", "fileinto")


def test_rfc5229_example_typo_is_refused_at_its_line() -> None:
    with pytest.raises(SieveError) as err:
        parse(MATCH_VARIABLES)
    assert (err.value.line, err.value.column) == (12, 5)
    assert "fileinfo" in err.value.message


def test_list_id_match_files_into_second_wildcard() -> None:
    raw = headers_only("List-ID: Acme users <acme-users@lists.example.com>")
    assert list(run(FIXED, raw).actions) == [FileInto("INBOX.lists.acme-users")]


def test_subject_match_holds_first_and_second_wildcard() -> None:
    script = FIXED.replace('fileinto "INBOX.lists.${1}"; stop;', 'set "one" "${1}"; set "two" "${2}"; fileinto "INBOX.lists.${1}"; stop;')
    outcome = run(script, headers_only("Subject: [acme-users] [fwd] version 1.0 is out"))
    assert list(outcome.actions) == [FileInto("INBOX.lists.acme-users")]
    assert dict(outcome.variables) == {"one": "acme-users", "two": "[fwd] version 1.0 is out"}


def test_address_match_double_star() -> None:
    script = FIXED.replace('fileinto "INBOX.business.${2}"; stop;', 'set "m" "${0}|${1}|${2}"; fileinto "INBOX.business.${2}"; stop;')
    outcome = run(script, headers_only("To: coyote@ACME.Example.COM"))
    assert list(outcome.actions) == [FileInto("INBOX.business.ACME.Example")]
    assert dict(outcome.variables)["m"] == "coyote@ACME.Example.COM||ACME.Example"


def test_short_circuit_sets_no_match_variables() -> None:
    script = FIXED.replace("    stop;\n}\n", '    set "after" "[${0}${1}]"; stop;\n}\n')
    outcome = run(script, headers_only("To: roadrunner@example.com"))
    assert dict(outcome.variables)["after"] == "[]"
    assert list(outcome.actions) == [Keep(implicit=True)]


# Section 4
SET_TEXT = """require "variables";
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
"""


def test_set_with_multiline_text_and_case_insensitive_names() -> None:
    variables = dict(run(SET_TEXT).variables)
    assert variables["vacation"] == "Dear Mr Coyote,\r\nI'm out, please leave a message after the meep.\r\n"
    assert run(SET_TEXT).implicit_keep  # "set" does not affect the implicit keep


# Section 4.1: "The value assigned to the variable is printed after the arrow"
@pytest.mark.parametrize(
    "line, expected",
    [
        ('set "b" "${a}";', "juMBlEd lETteRS"),
        ('set :length "b" "${a}";', "15"),
        ('set :lower "b" "${a}";', "jumbled letters"),
        ('set :upperfirst "b" "${a}";', "JuMBlEd lETteRS"),
        ('set :upperfirst :lower "b" "${a}";', "Jumbled letters"),
        ('set :quotewildcard "b" "Rock*";', "Rock\\*"),
    ],
)
def test_set_modifiers(line: str, expected: str) -> None:
    script = f'require "variables";\nset "a" "juMBlEd lETteRS";\n{line}\n'
    assert dict(run(script).variables)["b"] == expected


def test_two_modifiers_of_one_precedence_are_an_error() -> None:
    with pytest.raises(SieveError, match="cannot be used with"):
        parse('require "variables"; set :lower :upper "b" "x";')


# Section 3: expansion examples
@pytest.mark.parametrize(
    "source, expected",
    [
        ("&%${}!", "&%${}!"),
        ("${doh!}", "${doh!}"),
        ("${full}", ""),
        ("${company}", "ACME"),
        ("${BAD${Company}", "${BADACME"),
        ("${President, ${Company} Inc.}", "${President, ACME Inc.}"),
        ("${fo\\\\o}", "${fo\\o}"),  # script text "${fo\\o}": an illegal identifier, left verbatim
        ("\\\\${company}", "\\ACME"),
    ],
)
def test_expansion_examples(source: str, expected: str) -> None:
    script = f'require "variables"; set "company" "ACME"; set "out" "{source}";'
    assert dict(run(script).variables)["out"] == expected


def test_backslash_quoting_is_resolved_before_expansion() -> None:
    script = 'require "variables"; set "foo" "F"; set "a" "${fo\\o}"; set "b" "\\${foo}";'
    variables = dict(run(script).variables)
    assert (variables["a"], variables["b"]) == ("F", "F")


def test_dollar_variable_circumvents_expansion() -> None:
    script = 'require "variables";\nset "dollar" "$";\nset "text" "regarding ${dollar}{beep}";\n'
    assert dict(run(script).variables)["text"] == "regarding ${beep}"


ENCODED_WITH_VARIABLES = """require ["encoded-character", "variables"];
set "name" "Ethelbert"
if header :contains "Subject" "dear${hex:20 24 7b 4e}ame}" {
    # the test string is "dear Ethelbert"
}
"""


def test_encoded_character_before_expansion() -> None:
    # Verbatim, the RFC's example lacks the ";" after set: refused.
    with pytest.raises(SieveError):
        parse(ENCODED_WITH_VARIABLES)
    script = ENCODED_WITH_VARIABLES.replace('"Ethelbert"', '"Ethelbert";').replace(
        "    # the test string", '    discard;\n    # the test string'
    )
    assert list(run(script, headers_only("Subject: Hello dear Ethelbert")).actions)[0].__class__.__name__ == "Discard"
    assert run(script, headers_only("Subject: Hello dear Name")).implicit_keep


def test_string_test_example_always_succeeds() -> None:
    script = """require "variables";
set "state" "${state} pending";
if string :matches " ${state} " "* pending *" {
    # the above test always succeeds
    discard;
}
"""
    assert not run(script).implicit_keep


@pytest.mark.parametrize(
    "sources, count",
    [('["", ""]', "0"), ('["a", ""]', "1"), ('["a", "b", "c"]', "3")],
)
def test_string_count_ignores_empty_strings(sources: str, count: str) -> None:
    script = f'require ["variables", "relational"]; if string :count "eq" {sources} "{count}" {{ discard; }}'
    assert not run(script).implicit_keep


# -- RFC 5230 (vacation) --------------------------------------------------------

SIMPLE_VACATION = """require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
"I'm away until October 19.
If it's an emergency, call 911, I guess." ;
"""


def test_simple_vacation() -> None:
    raw = headers_only("From: friend@example.org", "To: Tim <tjs@example.edu>", "Subject: lunch")
    outcome = run(SIMPLE_VACATION, raw, mail_from="friend@example.org", rcpt_to="tjs@example.edu")
    (vacation, keep) = outcome.actions
    assert keep == Keep(implicit=True)  # vacation does not cancel the implicit keep
    assert isinstance(vacation, Vacation)
    assert vacation.days == 23 and vacation.seconds == 23 * 86400
    assert vacation.addresses == ("tjs@example.edu", "ts4z@landru.example.edu")
    assert vacation.reason == "I'm away until October 19.\r\nIf it's an emergency, call 911, I guess."
    assert vacation.to == "friend@example.org"
    assert vacation.subject == "Auto: lunch"  # section 5.3
    assert vacation.from_ is None and vacation.mime is False and vacation.handle


def test_vacation_answers_mail_to_an_alias_in_addresses() -> None:
    raw = headers_only("From: friend@example.org", "Cc: ts4z@landru.example.edu")
    outcome = run(SIMPLE_VACATION, raw, mail_from="friend@example.org", rcpt_to="tjs@example.edu")
    assert any(isinstance(a, Vacation) for a in outcome.actions)


def test_vacation_does_not_answer_mail_not_addressed_to_me() -> None:
    raw = headers_only("From: friend@example.org", "To: everyone@example.edu")
    outcome = run(SIMPLE_VACATION, raw, mail_from="friend@example.org", rcpt_to="tjs@example.edu")
    assert list(outcome.actions) == [Keep(implicit=True)]


SELECTIVE_VACATION = """require "vacation";
if header :contains "from" "boss@example.edu" {
    redirect "pleeb@isp.example.org";
} else {
    vacation "Sorry, I'm away, I'll read your
message when I get around to it.";
}
"""


def test_selective_vacation() -> None:
    boss = headers_only("From: boss@example.edu", "To: me@example.edu")
    assert list(run(SELECTIVE_VACATION, boss, mail_from="boss@example.edu", rcpt_to="me@example.edu").actions) == [
        Redirect("pleeb@isp.example.org")
    ]
    other = headers_only("From: pal@example.com", "To: me@example.edu")
    outcome = run(SELECTIVE_VACATION, other, mail_from="pal@example.com", rcpt_to="me@example.edu")
    vacation = outcome.actions[0]
    assert isinstance(vacation, Vacation) and vacation.days == 7  # the default
    assert vacation.subject == "Automated reply"  # no Subject field (section 5.3)
    assert outcome.implicit_keep


# -- RFC 5232 (imap4flags) ------------------------------------------------------


def test_setflag_deleted_on_big_messages() -> None:
    script = 'require "imap4flags";\nif size :over 500K {\n    setflag "\\\\Deleted";\n}\n'
    big = headers_only("From: a@b.example", pad_to=600 * 1024)
    assert list(run(script, big).actions) == [Keep(("\\Deleted",), implicit=True)]
    assert list(run(script).actions) == [Keep(implicit=True)]


BOSS_FLAGS = """require ["fileinto", "imap4flags", "variables"];
if header :contains "from" "boss@frobnitzm.example.edu" {
    setflag "flagvar" "\\\\Flagged";
    fileinto :flags "${flagvar}" "INBOX.From Boss";
}
"""


def test_setflag_into_variable_then_fileinto_flags() -> None:
    outcome = run(BOSS_FLAGS, headers_only("From: boss@frobnitzm.example.edu"))
    assert list(outcome.actions) == [FileInto("INBOX.From Boss", ("\\Flagged",))]


ADD_REMOVE = """require ["fileinto", "imap4flags", "variables"];
if header :contains "Disposition-Notification-To"
   "mel@example.com" {
    addflag "flagvar" "$MDNRequired";
}
if header :contains "from" "imap@cac.washington.example.edu" {
    removeflag "flagvar" "$MDNRequired";
    fileinto :flags "${flagvar}" "INBOX.imap-list";
}
"""


def test_addflag_then_removeflag() -> None:
    raw = headers_only("Disposition-Notification-To: mel@example.com", "From: imap@cac.washington.example.edu")
    assert list(run(ADD_REMOVE, raw).actions) == [FileInto("INBOX.imap-list", ())]
    only_mdn = run(ADD_REMOVE, headers_only("Disposition-Notification-To: mel@example.com"))
    assert dict(only_mdn.variables)["flagvar"] == "$MDNRequired"


@pytest.mark.parametrize(
    "test, expected",
    [
        ('hasflag :is "b A"', True),
        ('hasflag ["b","A"]', True),
        ('hasflag "C"', False),
        ('hasflag :contains "MyVar" "Junk"', True),
        ('hasflag :contains "MyVar" "forward"', True),
        ('hasflag :contains "MyVar" ["label", "forward"]', True),
        ('hasflag :contains "MyVar" ["junk", "forward"]', True),
        ('hasflag :contains "MyVar" "junk forward"', True),
        ('hasflag :contains "MyVar" "label"', False),
        ('hasflag :contains "MyVar" ["label1", "label2"]', False),
        ('hasflag :count "ge" :comparator "i;ascii-numeric" "MyFlags" "2"', True),
        ('hasflag :count "ge" :comparator "i;ascii-numeric" "MyFlags" "3"', False),
    ],
)
def test_hasflag_examples(test: str, expected: bool) -> None:
    script = (
        'require ["imap4flags", "variables", "relational", "comparator-i;ascii-numeric"];\n'
        'setflag "A B";\n'
        'set "MyVar" "NonJunk Junk gnus-forward $Forwarded NotJunk JunkRecorded $Junk $NotJunk";\n'
        'set "MyFlags" "A B";\n'
        f"if {test} {{ discard; }}\n"
    )
    assert (not run(script).implicit_keep) is expected


# Section 9, verbatim: its "remove" is not a command (RFC 5232 errata); we
# refuse it at its line, and run the script with "removeflag".
FLAGS_EXTENDED = """#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto", "imap4flags", "variables"];

#
# Move large messages to a special mailbox
#
if size :over 1M
        {
        addflag "MyFlags" "Big";
        if header :is "From" "boss@company.example.com"
                   {
# The message will be marked as "\\Flagged Big" when filed into
# mailbox "Big messages"
                   addflag "MyFlags" "\\\\Flagged";
                   }
        fileinto :flags "${MyFlags}" "Big messages";
        }

if header :is "From" "grandma@example.net"
        {
        addflag "MyFlags" ["\\\\Answered", "$MDNSent"];
# If the message is bigger than 1Mb it will be marked as
# "Big \\Answered $MDNSent" when filed into mailbox "grandma".
# If the message is shorter than 1Mb it will be marked as
# "\\Answered $MDNSent"
        fileinto :flags "${MyFlags}" "GrandMa";
        }

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter folder
#
if header :is "Sender" "owner-ietf-mta-filters@example.org"
        {
        set "MyFlags" "\\\\Flagged $Work";
# Message will have both "\\Flagged" and $Work flags
        keep :flags "${MyFlags}";
        }

#
# Keep all messages to or from people in my company
#
elsif anyof address :domain :is ["From", "To"] "company.example.com"
        {
        keep :flags "${MyFlags}"; # keep in "Inbox" folder
        }

# Try to catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (not address :all :contains
               ["To", "Cc"] "me@company.example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        remove "MyFlags" "\\\\Flagged";
        fileinto :flags "${MyFlags}" "spam";
        }
else
        {
        # Move all other external mail to "personal"
        # folder.
        fileinto :flags "${MyFlags}" "personal";
        }
"""


def test_rfc5232_extended_example_verbatim_is_refused_at_remove() -> None:
    with pytest.raises(SieveError) as err:
        parse(FLAGS_EXTENDED)
    assert err.value.line == 59 and "remove" in err.value.message


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            headers_only("From: boss@company.example.com", "To: me@company.example.com", pad_to=(1 << 20) + 1),
            [FileInto("Big messages", ("Big", "\\Flagged")), Keep(("Big", "\\Flagged"))],
        ),
        (
            headers_only("From: grandma@example.net", "To: me@company.example.com", pad_to=(1 << 20) + 1),
            [FileInto("Big messages", ("Big",)), FileInto("GrandMa", ("Big", "\\Answered", "$MDNSent")), Keep(("Big", "\\Answered", "$MDNSent"))],
        ),
        (
            headers_only("From: grandma@example.net", "To: me@company.example.com"),
            [FileInto("GrandMa", ("\\Answered", "$MDNSent")), Keep(("\\Answered", "$MDNSent"))],
        ),
        (
            headers_only("Sender: owner-ietf-mta-filters@example.org", "To: me@company.example.com"),
            [Keep(("\\Flagged", "$Work"))],
        ),
        (
            headers_only("From: a@example.org", "To: someone@example.org"),
            [FileInto("spam", ())],
        ),
        (
            headers_only("From: a@example.org", "Cc: me@company.example.com"),
            [FileInto("personal", ())],
        ),
    ],
)
def test_rfc5232_extended_example_with_removeflag(raw: bytes, expected: list) -> None:
    outcome = run(FLAGS_EXTENDED.replace("        remove ", "        removeflag "), raw)
    assert explicit(outcome) == expected
    assert not outcome.implicit_keep


# -- RFC 5233 (subaddress) ------------------------------------------------------

SUBADDRESS = """require ["envelope", "subaddress", "fileinto"];

# In this example the same user account receives mail for both
# "ken@example.com" and "postmaster@example.com"

# File all messages to postmaster into a single mailbox,
# ignoring the :detail part.
if envelope :user "to" "postmaster" {
    fileinto "inbox.postmaster";
    stop;
}

# File mailing list messages (subscribed as "ken+mta-filters").
if envelope :detail "to" "mta-filters" {
    fileinto "inbox.ietf-mta-filters";
}

# Redirect all mail sent to "ken+foo".
if envelope :detail "to" "foo" {
    redirect "ken@example.net";
}
"""


@pytest.mark.parametrize(
    "rcpt, expected, implicit_keep",
    [
        ("postmaster@example.com", [FileInto("inbox.postmaster")], False),
        ("postmaster+spam@example.com", [FileInto("inbox.postmaster")], False),
        ("ken+mta-filters@example.com", [FileInto("inbox.ietf-mta-filters")], False),
        ("ken+foo@example.com", [Redirect("ken@example.net")], False),
        ("ken@example.com", [Keep(implicit=True)], True),
        ("ken+@example.com", [Keep(implicit=True)], True),
    ],
)
def test_subaddress_example(rcpt: str, expected: list, implicit_keep: bool) -> None:
    outcome = run(SUBADDRESS, rcpt_to=rcpt)
    assert list(outcome.actions) == expected
    assert outcome.implicit_keep is implicit_keep


@pytest.mark.parametrize(
    "address, part, key, expected",
    [
        ("ken+foo@example.com", ":user", "ken", True),
        ("ken+foo@example.com", ":detail", "foo", True),
        ("ken+@example.com", ":detail", "", True),  # empty detail is still a detail
        ("ken@example.com", ":detail", "", False),  # no separator: :detail fails
        ("ken+a+b@example.com", ":detail", "a+b", True),
        ("ken+foo@example.com", ":localpart", "ken+foo", True),
        ("ken+foo@example.com", ":domain", "EXAMPLE.com", True),
    ],
)
def test_address_parts(address: str, part: str, key: str, expected: bool) -> None:
    script = f'require "subaddress"; if address {part} :is "to" "{key}" {{ discard; }}'
    assert (not run(script, headers_only(f"To: {address}")).implicit_keep) is expected
