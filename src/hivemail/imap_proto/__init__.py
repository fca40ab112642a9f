"""imap_proto"""
