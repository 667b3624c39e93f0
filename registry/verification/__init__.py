"""Real-name verification (实名): the state machine, identity and credit-code checks, expiry."""
