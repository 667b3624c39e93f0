"""Disguised-name matching: fold names, encode their match keys, and search an index of banned names."""
