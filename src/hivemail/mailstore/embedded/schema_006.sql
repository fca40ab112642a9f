-- hivemail embedded store, schema version 6: Sieve scripts and the
-- vacation memory (issue 8).
--
-- * sieve_scripts: an account's scripts by name (RFC 5804 1.6 names,
--   checked by the callers), the text as uploaded (already validated by
--   hivemail.sieve.parse), at most one active per account (partial unique
--   index: activating is "clear the old, set the new" in one transaction).
-- * sieve_vacation: when a vacation reply last went to a sender for a
--   handle (RFC 5230 4.2 and 4.7: :handle, or one derived from the
--   reason), in Unix seconds: the :days / :seconds memory.
--   Rows of both go with their account (ON DELETE CASCADE).

CREATE TABLE sieve_scripts (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    script     TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    updated    INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
CREATE UNIQUE INDEX sieve_one_active ON sieve_scripts(account_id) WHERE active;

CREATE TABLE sieve_vacation (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sender     TEXT NOT NULL,
    handle     TEXT NOT NULL,
    replied    INTEGER NOT NULL,
    PRIMARY KEY (account_id, sender, handle)
) WITHOUT ROWID;

PRAGMA user_version = 6;
