-- hivemail embedded store, schema version 4: quota usage (placeholder,
-- filled by the QUOTA work of issue 7).

PRAGMA user_version = 4;
