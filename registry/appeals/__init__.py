"""Appeals (申诉) against a ban or a violation: filed by the platform for its user, decided by other staff."""
