-- hivemail embedded store, schema version 4: quota usage counters.
--
-- Version 3 summed the size of every message of an account on every
-- delivery to check its quota (a scan of the whole account). Version 4
-- keeps one row of usage per account, exact by construction: triggers on
-- messages follow every row inserted, deleted or moved, whatever statement
-- does it, so no code path can forget to count.
--
-- * account_usage.bytes is the sum of messages.size (RFC822.SIZE of the
--   stored CRLF form), messages the count of rows, over every mailbox of
--   the account. Blobs are shared, but each message counts in full: what
--   a user is charged for must not depend on who else got the same mail.
-- * Deleting a mailbox removes its messages by ON DELETE CASCADE; SQLite
--   deletes the mailbox row first, so the messages' trigger no longer finds
--   the account (its update matches nothing). The mailbox's BEFORE DELETE
--   trigger takes its whole contents off instead: one sum per DELETE, not
--   one update per message.
-- * Deleting an account removes its usage row (ON DELETE CASCADE).
-- * check() compares every row with a fresh sum and repairs it.
--
-- Migration from version 3 computes the usage of every existing account.

CREATE TABLE account_usage (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    bytes      INTEGER NOT NULL DEFAULT 0,
    messages   INTEGER NOT NULL DEFAULT 0
);

INSERT INTO account_usage(account_id, bytes, messages)
SELECT a.id,
       coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
                 WHERE b.account_id = a.id), 0),
       coalesce((SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
                 WHERE b.account_id = a.id), 0)
FROM accounts a;

CREATE TRIGGER accounts_usage AFTER INSERT ON accounts BEGIN
    INSERT OR IGNORE INTO account_usage(account_id) VALUES (NEW.id);
END;

CREATE TRIGGER messages_usage_add AFTER INSERT ON messages BEGIN
    UPDATE account_usage SET bytes = bytes + NEW.size, messages = messages + 1
    WHERE account_id = (SELECT account_id FROM mailboxes WHERE id = NEW.mailbox_id);
END;

CREATE TRIGGER messages_usage_remove AFTER DELETE ON messages BEGIN
    UPDATE account_usage SET bytes = bytes - OLD.size, messages = messages - 1
    WHERE account_id = (SELECT account_id FROM mailboxes WHERE id = OLD.mailbox_id);
END;

-- RENAME INBOX moves rows by updating mailbox_id (within one account today;
-- counted both ways so that a move between accounts would stay exact too).
CREATE TRIGGER messages_usage_move AFTER UPDATE OF mailbox_id, size ON messages
WHEN NEW.mailbox_id IS NOT OLD.mailbox_id OR NEW.size IS NOT OLD.size BEGIN
    UPDATE account_usage SET bytes = bytes - OLD.size, messages = messages - 1
    WHERE account_id = (SELECT account_id FROM mailboxes WHERE id = OLD.mailbox_id);
    UPDATE account_usage SET bytes = bytes + NEW.size, messages = messages + 1
    WHERE account_id = (SELECT account_id FROM mailboxes WHERE id = NEW.mailbox_id);
END;

CREATE TRIGGER mailboxes_usage_remove BEFORE DELETE ON mailboxes BEGIN
    UPDATE account_usage
    SET bytes = bytes - (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = OLD.id),
        messages = messages - (SELECT count(*) FROM messages WHERE mailbox_id = OLD.id)
    WHERE account_id = OLD.account_id;
END;

PRAGMA user_version = 4;
