"""hivemail: one mailstore served over IMAP and POP3, fed by LMTP and SMTP."""

__version__ = "0.1.0"
