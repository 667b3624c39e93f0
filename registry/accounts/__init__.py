"""Accounts: what the registry knows of each account of the platform."""
