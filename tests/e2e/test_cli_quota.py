"""``hivemail user quota``: set, show (text and --json), remove limits."""

from __future__ import annotations

import argparse
import json

import pytest

from hivemail.cli import parse_limit_count, parse_limit_size
from tests.support.server import cli

MSG = b"Subject: x\r\n\r\n" + b"y" * 2000 + b"\r\n"


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("4096", 4096), ("100B", 100), ("1K", 1024), ("1k", 1024), ("500M", 500 << 20),
    ("1G", 1 << 30), ("1GB", 1 << 30), ("1GiB", 1 << 30), ("2T", 2 << 40), ("10 M", 10 << 20),
])
def test_sizes_are_1024_based_like_dovecot(text, value):
    assert parse_limit_size(text) == value


@pytest.mark.parametrize("text", ["", "x", "1.5G", "-1", "1X", "G", "1 GB extra", "１G"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_limit_size(text)


def test_none_and_counts():
    assert parse_limit_size("none") is parse_limit_count("NONE")
    assert parse_limit_count("100000") == 100000
    with pytest.raises(argparse.ArgumentTypeError):
        parse_limit_count("1K")


def test_user_quota_set_show_and_remove(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")

    def report():
        return json.loads(cli(d, "user", "quota", "a@example.org", "--json").stdout)

    assert report() == {"account": "a@example.org", "storage": {"used": 0, "limit": None},
                        "messages": {"used": 0, "limit": None}}
    assert cli(d, "user", "quota", "a@example.org", "--storage", "1G", "--messages", "100000").stdout == b""
    cli(d, "deliver", "a@example.org", input=MSG)
    got = report()
    assert got["storage"] == {"used": got["storage"]["used"], "limit": 1 << 30}
    assert got["storage"]["used"] >= len(MSG)  # plus the Return-Path/Received deliver adds
    assert got["messages"] == {"used": 1, "limit": 100000}
    text = cli(d, "user", "quota", "a@example.org").stdout.decode().splitlines()
    kib = -(-got["storage"]["used"] // 1024)
    assert text[0].split() == ["Type", "Value", "Limit", "%"]
    assert text[1].split() == ["STORAGE", str(kib), str(1 << 20), "0"]
    assert text[2].split() == ["MESSAGE", "1", "100000", "0"]
    # A limit not named stays; "none" removes one.
    cli(d, "user", "quota", "a@example.org", "--messages", "none")
    assert (report()["storage"]["limit"], report()["messages"]["limit"]) == (1 << 30, None)
    cli(d, "user", "quota", "a@example.org", "--storage", "none", "--messages", "1")
    got = report()
    assert (got["storage"]["limit"], got["messages"]["limit"]) == (None, 1)
    assert cli(d, "user", "quota", "a@example.org").stdout.decode().splitlines()[1].split() == [
        "STORAGE", str(kib), "-", "-"]
    assert cli(d, "user", "quota", "a@example.org").stdout.decode().splitlines()[2].split() == [
        "MESSAGE", "1", "1", "100"]
    # The limit holds: a second message is refused (75: retry later).
    assert cli(d, "deliver", "a@example.org", input=MSG, check=False).returncode == 75
    assert b"store is clean" in cli(d, "check").stdout


def test_user_quota_errors(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")
    bad = cli(d, "user", "quota", "a@example.org", "--storage", "lots", check=False)
    assert bad.returncode == 2 and b"not a size" in bad.stderr
    unknown = cli(d, "user", "quota", "nobody@example.org", check=False)
    assert unknown.returncode != 0 and b"no account nobody@example.org" in unknown.stderr
