"""Reviews of flagged signups."""
