from __future__ import annotations

import pytest

from hivemail.outbound import OutboundSettings, parse_smarthost


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("relay.example.org:587", ("relay.example.org", 587)),
        ("relay.example.org", ("relay.example.org", 25)),
        ("127.0.0.1:2525", ("127.0.0.1", 2525)),
        ("[::1]:2525", ("::1", 2525)),
        ("[2001:db8::1]", ("2001:db8::1", 25)),
        (" host:1 ", ("host", 1)),
        ("host:65535", ("host", 65535)),
    ],
)
def test_parse_smarthost_accepts(text, expected):
    assert parse_smarthost(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "host:", ":25", "host:0", "host:65536", "host:x", "host:２５", "::1:25", "[::1", "[::1]x", "[]:25", "host:-1"],
)
def test_parse_smarthost_refuses(text):
    with pytest.raises(ValueError):
        parse_smarthost(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"smarthost": "host:0"},
        {"starttls": "maybe"},
        {"auth_user": "u", "starttls": "off"},
        {"auth_password": "p"},
        {"retry_initial": 0},
        {"retry_initial": 100, "retry_max": 50},
        {"retry_jitter": 1.0},
        {"max_age": 0},
        {"timeout": -1},
        {"data_timeout": 0},
    ],
)
def test_settings_refuse_bad_values(kwargs):
    with pytest.raises(ValueError):
        OutboundSettings(**kwargs)


def test_auth_without_tls_must_be_explicit():
    s = OutboundSettings(smarthost="h:1", auth_user="u", auth_password="p", starttls="off", auth_without_tls=True)
    assert s.address == ("h", 1)


def test_no_smarthost_has_no_address():
    with pytest.raises(ValueError):
        OutboundSettings().address


def test_retry_delay_doubles_up_to_the_cap():
    s = OutboundSettings(retry_initial=60, retry_max=3600, retry_jitter=0.0)
    assert [s.retry_delay(n, 0.5) for n in range(1, 10)] == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert s.retry_delay(10_000, 0.0) == 3600  # no overflow


def test_retry_delay_jitter_only_shortens():
    s = OutboundSettings(retry_initial=60, retry_max=3600, retry_jitter=0.25)
    assert s.retry_delay(1, 0.0) == 60
    assert s.retry_delay(1, 0.999) == pytest.approx(60 * (1 - 0.25 * 0.999))
    assert s.retry_delay(20, 0.5) == pytest.approx(3600 * 0.875)
