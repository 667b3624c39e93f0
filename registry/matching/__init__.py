"""Disguised-name matching: fold names, encode their match keys, and search an index of banned names."""

from registry.matching.fold import canonical
from registry.matching.index import REVIEW_THRESHOLD, MatchConfig, NameIndex, NameMatch
from registry.matching.keys import encode_name

__all__ = ["REVIEW_THRESHOLD", "MatchConfig", "NameIndex", "NameMatch", "canonical", "encode_name"]
