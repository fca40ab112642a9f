"""The documented hivemail.toml and the Config dataclasses agree."""

import dataclasses
import tomllib
from pathlib import Path

import pytest

from hivemail.config import Config, ConfigError, load, parse_hostport

EXAMPLE = Path(__file__).resolve().parents[2] / "hivemail.toml"


def flatten(obj, prefix=""):
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = value
    return out


def test_example_file_documents_every_key_with_its_default():
    assert flatten(load(EXAMPLE)) == flatten(Config())
    with open(EXAMPLE, "rb") as f:
        raw = tomllib.load(f)
    documented = {k for k, v in raw.items() if not isinstance(v, dict)}
    documented |= {f"{t}.{k}" for t, sub in raw.items() if isinstance(sub, dict) for k in sub}
    assert documented == set(flatten(Config()))


def test_unknown_key_is_an_error(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[limits]\nmax_mesage_size = 3\n')
    with pytest.raises(ConfigError, match="max_mesage_size"):
        load(p)


def test_wrong_type_is_an_error(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[limits]\nmax_message_size = "big"\n')
    with pytest.raises(ConfigError, match="expected int"):
        load(p)


def test_overrides_replace_nested_values():
    c = Config().with_overrides(**{"listen.lmtp": "127.0.0.1:24", "data_dir": "/x"})
    assert c.listen.lmtp == "127.0.0.1:24" and c.data_dir == "/x"
    with pytest.raises(ConfigError):
        Config().with_overrides(**{"listen.nope": "x"})


@pytest.mark.parametrize(
    "text,expected",
    [("127.0.0.1:24", ("127.0.0.1", 24)), ("[::1]:143", ("::1", 143)), ("localhost:0", ("localhost", 0))],
)
def test_parse_hostport(text, expected):
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":25", "h:x", "h:70000"])
def test_parse_hostport_rejects(text):
    with pytest.raises(ConfigError):
        parse_hostport(text)
