-- hivemail embedded store, schema version 7: a word index of the body
-- text, so that SEARCH BODY / TEXT of a common word needs no confirmation
-- (issue 7: "BODY wrote", 35,000 hits of 100,000, took ~0.9 s confirming
-- each candidate against search_doc.bz).
--
-- * search_bodywords: the body text (the same folded text as search_body)
--   as unicode61 words, presence only (detail=none), contentless; rowid =
--   the doc (search_doc.doc), as in the other FTS5 tables.
-- * search_vocab: every distinct word of search_bodywords that contains
--   three consecutive ASCII letters or digits (only such a word can hold a
--   needle the word path answers), and search_vocab_tri, a trigram
--   presence index of those words (external content: search_vocab), so
--   "the words containing this needle" is a lookup plus a substring check
--   of a few short words. Words are never removed: a word whose last doc
--   is gone only yields an empty doclist.
-- * search_nowords: docs that have rows in the trigram tables but not in
--   search_bodywords: pending = 1, docs indexed before this version, which
--   the background indexer gives their words in batches; pending = 0,
--   docs with a run of 8192 or more characters without an ASCII separator,
--   which may hold a word longer than FTS5 keeps (32 KB: longer ones are
--   truncated, and a needle beyond the cut would be lost). The word path
--   confirms the few docs listed here against search_doc; while there are
--   many (a backfill under way), searches take the trigram path.
--   A doc's row goes with the doc (_drop_doc).

CREATE VIRTUAL TABLE search_bodywords USING fts5(
    t, tokenize = 'unicode61 remove_diacritics 0', content = '', columnsize = 0, detail = none
);

CREATE TABLE search_vocab (
    id   INTEGER PRIMARY KEY,
    term TEXT NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE search_vocab_tri USING fts5(
    term, tokenize = 'trigram case_sensitive 1', content = 'search_vocab', content_rowid = 'id',
    columnsize = 0, detail = none
);

CREATE TABLE search_nowords (
    doc     INTEGER PRIMARY KEY,
    pending INTEGER NOT NULL
);

INSERT INTO search_nowords(doc, pending) SELECT doc, 1 FROM search_doc;

-- A mailbox's document -> UID map (store.py _doc_map) from the messages
-- and this index alone: a blobs row carries the analysis (~5 KB), which a
-- join through the table reads for every message (100,000: 2.2 s, 165 ms
-- through this index).
CREATE INDEX blobs_doc_by_id ON blobs(id, doc) WHERE doc IS NOT NULL;

PRAGMA user_version = 7;
