"""Transports: how a call's audio (or text) and its legs reach the outside world."""
