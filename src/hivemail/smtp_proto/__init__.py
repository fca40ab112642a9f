"""smtp_proto"""
