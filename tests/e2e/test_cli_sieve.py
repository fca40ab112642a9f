"""`hivemail sieve put|get|list|activate|delete` (issue 8): what ManageSieve
offers, for the administrator; an invalid script is refused with its line."""

from __future__ import annotations

from tests.support.server import cli

USER = "sieve@example.org"
GOOD = 'require "fileinto";\r\nif header :contains "List-Id" "dev" { fileinto "Lists/dev"; }\r\n'
BAD = 'require "fileinto";\r\nif header :contains "List-Id" "dev" {\r\n  fileinto "Lists/dev"\r\n}\r\n'


def test_put_list_activate_get_delete(tmp_path):
    cli(tmp_path, "user", "add", USER, "--password", "pw")
    (tmp_path / "good.sieve").write_text(GOOD)
    (tmp_path / "bad.sieve").write_text(BAD)
    cli(tmp_path, "sieve", "put", USER, "lists", str(tmp_path / "good.sieve"))
    bad = cli(tmp_path, "sieve", "put", USER, "broken", str(tmp_path / "bad.sieve"), check=False)
    assert bad.returncode == 65
    assert b"line 4" in bad.stderr  # the "}" where ";" was expected
    assert cli(tmp_path, "sieve", "list", USER).stdout == b"lists\n"
    cli(tmp_path, "sieve", "activate", USER, "lists")
    assert cli(tmp_path, "sieve", "list", USER).stdout == b"lists (active)\n"
    assert cli(tmp_path, "sieve", "get", USER, "lists").stdout.decode() == GOOD
    # RFC 5804 2.10: the active script cannot be deleted.
    assert cli(tmp_path, "sieve", "delete", USER, "lists", check=False).returncode != 0
    cli(tmp_path, "sieve", "activate", USER)  # no name: deactivate
    assert cli(tmp_path, "sieve", "list", USER).stdout == b"lists\n"
    cli(tmp_path, "sieve", "delete", USER, "lists")
    assert cli(tmp_path, "sieve", "list", USER).stdout == b""
    assert cli(tmp_path, "sieve", "get", USER, "lists", check=False).returncode == 65
    assert cli(tmp_path, "sieve", "put", USER, "bad\x01name", str(tmp_path / "good.sieve"), check=False).returncode == 64
