-- hivemail embedded store, schema version 2: the search index.
--
-- Applied after schema.sql (fresh stores) or to a version-1 store, inside
-- the migration transaction. Every existing blob starts unindexed; the
-- background indexer catches up, and searches stay exact meanwhile (they
-- scan the messages whose blob is not indexed yet).
--
-- * search_text holds one row per blob (text is a function of the bytes, so
--   copies share it). Every column is already case-folded (Python's
--   str.casefold(), the fold() of mailstore/search.py) and the tokenizer is
--   case-sensitive: a phrase of trigrams is then exactly "folded needle is a
--   substring of folded text", the reference semantics, whatever SQLite's
--   own (simple, 1:1) case folding would have done with "ß" or "ﬁ".
--   hdr is MessageAnalysis.header_text, body is search.body_text(); h_* are
--   the values of one field joined by newlines (SUBJECT, FROM, TO, CC, BCC).
-- * blobs.doc is the blob's search_text rowid once indexed (NULL: not yet).
-- * A deleted blob's rowid goes to search_dead (trigger); the indexer deletes
--   those rows later, off the write path that garbage collection runs on
--   (deleting from FTS5 re-tokenizes the row).

ALTER TABLE blobs ADD COLUMN doc INTEGER;
CREATE INDEX blobs_unindexed ON blobs(id) WHERE doc IS NULL;
CREATE UNIQUE INDEX blobs_doc ON blobs(doc) WHERE doc IS NOT NULL;

CREATE VIRTUAL TABLE search_text USING fts5(
    hdr, body, h_subject, h_from, h_to, h_cc, h_bcc,
    tokenize = 'trigram case_sensitive 1'
);

CREATE TABLE search_dead (
    doc INTEGER PRIMARY KEY
);

CREATE TRIGGER blobs_search_gone AFTER DELETE ON blobs
WHEN OLD.doc IS NOT NULL BEGIN
    INSERT OR IGNORE INTO search_dead(doc) VALUES (OLD.doc);
END;

PRAGMA user_version = 2;
