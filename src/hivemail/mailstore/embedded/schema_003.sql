-- hivemail embedded store, schema version 3: a smaller search index.
--
-- Version 2 kept one FTS5 trigram row per blob with positions (detail=full)
-- and a plain copy of every text, ~24 KB per message. Version 3 keeps,
-- per indexed blob (~6 KB per message of ordinary mail):
--
-- * search_fields: the folded values of SUBJECT, FROM, TO, CC and BCC
--   (each field's values joined by newlines), trigrams with positions: a
--   phrase of trigrams is exactly "folded needle is a substring", so these
--   keys are answered by the index alone. The fields are short: positions
--   cost little here.
-- * search_hdr (every "Name: value" line, MessageAnalysis.header_text) and
--   search_body (search.body_text()): trigram *presence* only (detail=none).
--   A needle's trigrams all present is necessary, not sufficient: every
--   candidate is confirmed against the stored text. A three-character needle
--   is one trigram: presence is then exact.
-- * search_doc: that text, zlib-compressed: hz = header_text and the five
--   fields, NUL-separated (the index stores no NUL: see _storable), bz = the
--   body text. It serves the confirmation, and the deletion: the three FTS5
--   tables are contentless (content=''), and SQLite before 3.43 deletes a
--   contentless row only when given the text that was inserted.
--
-- All text is case-folded (Python's str.casefold()) before it is stored and
-- the tokenizer is case-sensitive, as in version 2. blobs.doc is the blob's
-- search_doc rowid, which is also its rowid in the three FTS5 tables (never
-- reused: AUTOINCREMENT; leftover FTS5 rows can never name a new blob). A
-- deleted blob's doc goes to search_dead (trigger); the indexer deletes its
-- rows later, off garbage collection's write path.
--
-- Migration from version 2: the old index is dropped and every blob marked
-- unindexed; the background indexer rebuilds, and searches stay exact
-- meanwhile (they scan what is not indexed yet). The pages the old index
-- used are free pages of the file, reused by the new index (VACUUM returns
-- them to the file system).

DROP TRIGGER IF EXISTS blobs_search_gone;
DROP TABLE IF EXISTS search_text;
DELETE FROM search_dead;
UPDATE blobs SET doc = NULL WHERE doc IS NOT NULL;

CREATE VIRTUAL TABLE search_fields USING fts5(
    h_subject, h_from, h_to, h_cc, h_bcc,
    tokenize = 'trigram case_sensitive 1', content = '', columnsize = 0
);

CREATE VIRTUAL TABLE search_hdr USING fts5(
    t, tokenize = 'trigram case_sensitive 1', content = '', columnsize = 0, detail = none
);

CREATE VIRTUAL TABLE search_body USING fts5(
    t, tokenize = 'trigram case_sensitive 1', content = '', columnsize = 0, detail = none
);

CREATE TABLE search_doc (
    doc INTEGER PRIMARY KEY AUTOINCREMENT,
    hz  BLOB NOT NULL,
    bz  BLOB NOT NULL
);

-- search_text maps the blobs found to UIDs: by lookups when they are few
-- (a rare word costs what it finds, not what the mailbox holds).
CREATE INDEX messages_blob ON messages(blob_id);

CREATE TRIGGER blobs_search_gone AFTER DELETE ON blobs
WHEN OLD.doc IS NOT NULL BEGIN
    INSERT OR IGNORE INTO search_dead(doc) VALUES (OLD.doc);
END;

PRAGMA user_version = 3;
