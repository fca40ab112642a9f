-- hivemail embedded store, schema version 5: sort, thread and preview keys.
--
-- One row per blob (the keys are a function of the message bytes, so a
-- message delivered to ten mailboxes or copied has one row), computed at
-- delivery and APPEND by hivemail.mailstore.sortkeys from the stored
-- analysis and the bytes, outside the write lock (in the I/O pool), and
-- inserted in the delivery's transaction:
--
-- * sent: the Date: field in UTC seconds, NULL if missing or unparseable
--   (SORT DATE and THREAD then use INTERNALDATE, RFC 5256 section 2.2);
-- * subject: the base subject (RFC 5256 section 2.1), and the from/to/cc
--   addr-mailbox and display_from/display_to (RFC 5957) values: stored as
--   i;unicode-casemap collation keys, so sorting compares them as they are;
-- * reply: base-subject extraction removed a re/fwd marker (THREAD step 5);
-- * message_id, refs: the normalised Message-ID and the REFERENCES chain
--   (References, else the first In-Reply-To), refs newline-separated;
-- * preview: RFC 8970 PREVIEW text, up to 256 characters.
--
-- Blobs stored before version 5 get no row here by this migration (SQL
-- cannot parse MIME): their keys are computed lazily, the first time a
-- SORT, THREAD or PREVIEW asks for them (EmbeddedStore.sort_keys /
-- previews find the row missing, compute it from the analysis and the
-- file, and insert it). A row goes with its blob (trigger below).

CREATE TABLE blob_keys (
    blob_id      TEXT PRIMARY KEY,
    sent         INTEGER,
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
) WITHOUT ROWID;

CREATE TRIGGER blobs_keys_gone AFTER DELETE ON blobs BEGIN
    DELETE FROM blob_keys WHERE blob_id = OLD.id;
END;

PRAGMA user_version = 5;
