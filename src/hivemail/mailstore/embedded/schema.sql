-- hivemail embedded store, schema version 1.
--
-- Applied once, inside one transaction, when PRAGMA user_version is 0.
-- Later versions go in migrations/NNN.sql and bump user_version.
--
-- Notes on the shape:
-- * messages is WITHOUT ROWID with PRIMARY KEY (mailbox_id, uid): rows of a
--   mailbox are stored together in UID order, so SELECT/snapshot is one range
--   scan of one b-tree and needs no separate index.
-- * System flags are a bitmask (\Seen 1, \Answered 2, \Flagged 4, \Deleted 8,
--   \Draft 16); keywords are one space-separated sorted text column ('' if none).
-- * Dates are integer Unix seconds. INTERNALDATE keeps the zone the client
--   gave (RFC 9051 2.3.3) in internal_tz (minutes east of UTC).
-- * messages.blob_id deliberately has no FOREIGN KEY: enforcing it would make
--   every deletion of an unreferenced blob row scan messages (no index on
--   blob_id, which would cost on every insert). Triggers keep
--   blobs.refcount exact and check() verifies it.
-- * The change log is kept compact: a message row carries the MODSEQ of its
--   last change and of its append; expunged carries one tombstone per
--   expunged UID. changes_since(m) is then "rows with modseq > m" plus
--   "tombstones with modseq > m": the log with every superseded entry
--   removed. mailboxes.expunge_floor is the newest MODSEQ of any tombstone
--   pruned so far (0 = none pruned).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE domains (
    name TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    scram          TEXT NOT NULL DEFAULT '',
    quota_bytes    INTEGER,
    quota_messages INTEGER
);

CREATE TABLE account_settings (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;

CREATE TABLE aliases (
    address    TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX aliases_account ON aliases(account_id);

CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uidnext       INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    subscribed    INTEGER NOT NULL DEFAULT 0,
    special_use   TEXT,
    expunge_floor INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);

CREATE TABLE blobs (
    id       TEXT PRIMARY KEY,          -- sha256 hex of the stored (CRLF) bytes
    size     INTEGER NOT NULL,
    refcount INTEGER NOT NULL DEFAULT 0,
    analysis BLOB NOT NULL              -- serialized MIME analysis (a function of the bytes)
) WITHOUT ROWID;
-- Finds garbage without scanning: only unreferenced rows are in this index.
CREATE INDEX blobs_unreferenced ON blobs(refcount) WHERE refcount <= 0;

CREATE TABLE messages (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    append_modseq INTEGER NOT NULL,
    sysflags      INTEGER NOT NULL DEFAULT 0,
    keywords      TEXT NOT NULL DEFAULT '',
    internal_date INTEGER NOT NULL,
    internal_tz   INTEGER NOT NULL DEFAULT 0,
    save_date     INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    blob_id       TEXT NOT NULL,
    explicit_uidl TEXT,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

CREATE TABLE expunged (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    append_modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);

-- Reference counts follow message rows exactly, including rows removed by
-- ON DELETE CASCADE (SQLite fires row triggers for cascaded deletes).
CREATE TRIGGER messages_ref AFTER INSERT ON messages BEGIN
    UPDATE blobs SET refcount = refcount + 1 WHERE id = NEW.blob_id;
END;
CREATE TRIGGER messages_unref AFTER DELETE ON messages BEGIN
    UPDATE blobs SET refcount = refcount - 1 WHERE id = OLD.blob_id;
END;
CREATE TRIGGER messages_reref AFTER UPDATE OF blob_id ON messages
WHEN NEW.blob_id IS NOT OLD.blob_id BEGIN
    UPDATE blobs SET refcount = refcount - 1 WHERE id = OLD.blob_id;
    UPDATE blobs SET refcount = refcount + 1 WHERE id = NEW.blob_id;
END;

INSERT INTO meta(key, value) VALUES ('last_uidvalidity', 0);

PRAGMA user_version = 1;
