"""Every tests/transcripts/pop3/*.txt replayed against a real server (see runner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.transcripts.runner import replay

SCRIPTS = sorted((Path(__file__).parent / "pop3").glob("*.txt"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_pop3_transcript(script: Path, tmp_path: Path) -> None:
    replay(script, tmp_path / "data")
