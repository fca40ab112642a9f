"""IMAP sessions: drive imap_proto, talk to the mailstore."""
