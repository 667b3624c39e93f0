"""Violations and credit (用户信用记录)."""
