-- hivemail embedded store, schema version 5: sort, thread and preview keys
-- (placeholder, filled by the SORT/THREAD work of issue 7).

PRAGMA user_version = 5;
