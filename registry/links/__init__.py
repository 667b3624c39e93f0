"""Linked accounts: the accounts sharing a phone, ID number, device id or email (by keyed hash)."""
