-- hivemail's PostgreSQL schema, version 1 (issue 9).
--
-- The same tables, columns and meanings as the embedded store's schema
-- (embedded/schema*.sql), so both backends share mailstore/rows.py and the
-- migration copies rows one to one. What differs:
--   * ids are identity columns; UIDVALIDITY comes from a sequence-like row
--     in meta, updated in the creating transaction;
--   * message bytes live in blob_data (bytea) unless the config names a
--     blob directory shared by the nodes;
--   * the search index is one row of folded texts per blob with pg_trgm GIN
--     indexes: LIKE '%needle%' on them is IMAP's substring match, the index
--     narrowing and PostgreSQL's recheck confirming;
--   * every commit that changes a mailbox sends NOTIFY hivemail_change
--     '<mailbox id> <highestmodseq>' (in the same transaction, so it is
--     delivered only if the change committed): IDLE on every node.
-- UID and MODSEQ allocation: UPDATE mailboxes ... RETURNING inside the
-- writing transaction; the row lock lasts that transaction only.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta(key, value) VALUES ('schema_version', 1), ('last_uidvalidity', 0);

CREATE TABLE domains (
    name TEXT PRIMARY KEY
);

CREATE TABLE accounts (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    scram          TEXT NOT NULL DEFAULT '',
    quota_bytes    BIGINT,
    quota_messages BIGINT
);

CREATE TABLE account_settings (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE aliases (
    address    TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE
);
CREATE INDEX aliases_account ON aliases(account_id);

CREATE TABLE account_usage (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    bytes      BIGINT NOT NULL DEFAULT 0,
    messages   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE mailboxes (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    uidvalidity   BIGINT NOT NULL,
    uidnext       BIGINT NOT NULL DEFAULT 1,
    highestmodseq BIGINT NOT NULL DEFAULT 1,
    subscribed    BOOLEAN NOT NULL DEFAULT FALSE,
    special_use   TEXT,
    expunge_floor BIGINT NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);

-- One row per distinct message content (sha256 of the CRLF bytes).
CREATE TABLE blobs (
    id       TEXT PRIMARY KEY,
    size     BIGINT NOT NULL,
    refcount BIGINT NOT NULL DEFAULT 0,
    analysis BYTEA NOT NULL,
    indexed  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX blobs_unreferenced ON blobs(id) WHERE refcount <= 0;
CREATE INDEX blobs_unindexed ON blobs(id) WHERE NOT indexed;

-- The message bytes, when they are kept in the database (the default).
CREATE TABLE blob_data (
    blob_id TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    data    BYTEA NOT NULL
);
ALTER TABLE blob_data ALTER COLUMN data SET STORAGE EXTERNAL;  -- substrings without decompressing

CREATE TABLE blob_keys (
    blob_id      TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    sent         BIGINT,
    subject      TEXT NOT NULL,
    reply        INTEGER NOT NULL,
    from_addr    TEXT NOT NULL,
    to_addr      TEXT NOT NULL,
    cc_addr      TEXT NOT NULL,
    display_from TEXT NOT NULL,
    display_to   TEXT NOT NULL,
    message_id   TEXT,
    refs         TEXT NOT NULL,
    preview      TEXT NOT NULL
);

CREATE TABLE messages (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           BIGINT NOT NULL,
    modseq        BIGINT NOT NULL,
    append_modseq BIGINT NOT NULL,
    sysflags      INTEGER NOT NULL DEFAULT 0,
    keywords      TEXT NOT NULL DEFAULT '',
    internal_date BIGINT NOT NULL,
    internal_tz   INTEGER NOT NULL DEFAULT 0,
    save_date     BIGINT NOT NULL,
    size          BIGINT NOT NULL,
    blob_id       TEXT NOT NULL REFERENCES blobs(id),
    explicit_uidl TEXT,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);

CREATE TABLE expunged (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           BIGINT NOT NULL,
    modseq        BIGINT NOT NULL,
    append_modseq BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);

-- Blobs a POP3 session keeps readable although expunged (RFC 1939: the
-- maildrop is fixed for the session). ``owner`` is the pinning node's id
-- (PostgresBase.node), whose advisory lock (LOCK_NODE, key32(owner)) its
-- lock connection holds while it lives: pins of a node that died (its lock
-- gone) are ignored and removed.
CREATE TABLE blob_pins (
    pin     BIGINT NOT NULL,
    owner   TEXT NOT NULL,
    blob_id TEXT NOT NULL,
    PRIMARY KEY (pin, blob_id)
);
CREATE INDEX blob_pins_blob ON blob_pins(blob_id);
CREATE SEQUENCE blob_pin_ids;

-- The search index: the folded texts of mailstore.rows.search_columns.
CREATE TABLE search_docs (
    blob_id   TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    hdr       TEXT NOT NULL,
    body      TEXT NOT NULL,
    h_subject TEXT NOT NULL,
    h_from    TEXT NOT NULL,
    h_to      TEXT NOT NULL,
    h_cc      TEXT NOT NULL,
    h_bcc     TEXT NOT NULL
);
CREATE INDEX search_hdr ON search_docs USING gin (hdr gin_trgm_ops);
CREATE INDEX search_body ON search_docs USING gin (body gin_trgm_ops);
CREATE INDEX search_subject ON search_docs USING gin (h_subject gin_trgm_ops);
CREATE INDEX search_from ON search_docs USING gin (h_from gin_trgm_ops);
CREATE INDEX search_to ON search_docs USING gin (h_to gin_trgm_ops);
CREATE INDEX search_cc ON search_docs USING gin (h_cc gin_trgm_ops);
CREATE INDEX search_bcc ON search_docs USING gin (h_bcc gin_trgm_ops);

CREATE TABLE sieve_scripts (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    script     TEXT NOT NULL,
    active     BOOLEAN NOT NULL DEFAULT FALSE,
    updated    BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE UNIQUE INDEX sieve_one_active ON sieve_scripts(account_id) WHERE active;

CREATE TABLE sieve_vacation (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sender     TEXT NOT NULL,
    handle     TEXT NOT NULL,
    replied    BIGINT NOT NULL,
    PRIMARY KEY (account_id, sender, handle)
);

-- Reference counts and quota usage, kept by triggers as in the embedded
-- store, but once per statement (transition tables): one UPDATE of the
-- blob's or the account's row per message made a statement on many
-- messages of one account quadratic (each update of a row walks the
-- versions the transaction already made of it; copying 8,000 messages
-- took 22 s). Groups whose net change is zero (a rename moving INBOX's
-- messages within the account, a flag update) change nothing.
CREATE FUNCTION hivemail_messages_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta TEXT := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT blob_id, mailbox_id, size, 1 FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT blob_id, mailbox_id, -size, -1 FROM old_rows'
        ELSE 'SELECT blob_id, mailbox_id, size, 1 FROM new_rows'
             ' UNION ALL SELECT blob_id, mailbox_id, -size, -1 FROM old_rows' END;
BEGIN
    EXECUTE 'WITH d(blob_id, mailbox_id, size, n) AS (' || delta || '),'
        ' b AS (UPDATE blobs SET refcount = refcount + x.n'
        '       FROM (SELECT blob_id, sum(n) AS n FROM d GROUP BY blob_id HAVING sum(n) <> 0) x'
        '       WHERE blobs.id = x.blob_id)'
        ' UPDATE account_usage u SET bytes = u.bytes + x.bytes, messages = u.messages + x.n'
        ' FROM (SELECT m.account_id, sum(d.size) AS bytes, sum(d.n) AS n FROM d'
        '       JOIN mailboxes m ON m.id = d.mailbox_id GROUP BY m.account_id'
        '       HAVING sum(d.size) <> 0 OR sum(d.n) <> 0) x'
        ' WHERE u.account_id = x.account_id';
    RETURN NULL;
END $$;

CREATE TRIGGER messages_counts_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION hivemail_messages_counts();
CREATE TRIGGER messages_counts_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION hivemail_messages_counts();
CREATE TRIGGER messages_counts_update AFTER UPDATE ON messages
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION hivemail_messages_counts();

CREATE FUNCTION hivemail_account_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_usage(account_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_usage AFTER INSERT ON accounts
FOR EACH ROW EXECUTE FUNCTION hivemail_account_usage();

-- A mailbox's messages go before the mailbox row, while the per-row trigger
-- above can still find their account (a cascade would run it too late).
CREATE FUNCTION hivemail_mailbox_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages WHERE mailbox_id = OLD.id;
    RETURN OLD;
END $$;

CREATE TRIGGER mailboxes_gone BEFORE DELETE ON mailboxes
FOR EACH ROW EXECUTE FUNCTION hivemail_mailbox_gone();
