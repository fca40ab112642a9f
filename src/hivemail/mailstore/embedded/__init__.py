"""mailstore/embedded"""
