"""Bans: the blacklist database (黑名单账号数据库)."""
