"""Every fuzz target of ``tests/fuzz`` under Hypothesis: no exception, no hang,
bounded memory, plus each target's own invariants (see ``targets.py``).

The example budget comes from the Hypothesis profile (``tests/conftest.py``):
a few hundred per target in ``make test``; ``make fuzz`` runs the same
targets for a set time.  Crashes found by fuzzing are pinned below as
explicit regression cases.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.bounds import Hang, bounded
from tests.fuzz.sources import BytesSource, HypothesisSource
from tests.fuzz.targets import TARGETS, State, check_imap_bytes, check_imap_grammar, check_mime, run


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzz_target(name: str, data: st.DataObject) -> None:
    run(TARGETS[name], HypothesisSource(data))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_raw_fuzzer_bytes_replay_deterministically(name: str) -> None:
    """The atheris engine decodes raw bytes; the same bytes give the same case."""
    blob = bytes(range(256)) * 3
    target = TARGETS[name]
    assert target.generate(BytesSource(blob)) == target.generate(BytesSource(blob))
    run(target, BytesSource(blob))
    run(target, BytesSource(b""))


def test_time_bound_interrupts_an_endless_loop() -> None:
    with pytest.raises(Hang):
        with bounded(0.2, None):
            while True:
                pass


# -- pinned cases: what fuzzing surfaced (no core crashed; these were harness
# -- false alarms or limits worth keeping as explicit examples) ----------------


def test_a_huge_claimed_literal_allocates_nothing_like_its_size() -> None:
    # {4294967296+} and {99999999999}: the core must not reserve what is claimed.
    for wire in (b"a APPEND INBOX {4294967296+}\r\nxx", b"a LOGIN {99999999999}\r\n", b"a X ~{99999999999+}\r\n"):
        for state in (State.NOT_AUTHENTICATED, State.SELECTED):
            check_imap_bytes(wire, (3, 9), state, accept=True, eof=True, small=False)


def test_empty_header_field_name_is_bad_not_a_crash() -> None:
    # Grammar-valid (header-fld-name is an astring) but no field has an empty
    # name; the core answers BAD, so the grammar generator avoids it.
    with pytest.raises(AssertionError):
        check_imap_grammar(b"1 SEARCH HEADER {0}\r\n x\r\n", ("SEARCH",), (), False)


def test_tag_made_of_a_closing_brace_is_answered_with_it() -> None:
    # "}" is an ATOM-CHAR, so "} x" has a valid tag; the response checker once
    # rejected the core's correct "} BAD ..." line.
    check_imap_bytes(b"}\r\n} \r\n", (), State.SELECTED, accept=True, eof=True)


def test_mutated_fixture_with_truncated_boundary() -> None:
    check_mime(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n--b-")
