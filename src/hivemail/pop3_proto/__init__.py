"""pop3_proto"""
