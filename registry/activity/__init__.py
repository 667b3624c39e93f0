"""Account activity: the last time each account was seen, and reactivation of dormant accounts."""
