"""Tiers (分类分级): the ordered ladder accounts are graded on."""
