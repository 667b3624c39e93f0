"""Back-checks of new bans: the accounts that already exist and match a new ban open reviews."""
