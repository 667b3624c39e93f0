"""The zombie and shell account sweep (僵尸号、空壳号)."""
