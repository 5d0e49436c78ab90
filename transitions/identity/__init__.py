"""Identity: organizations, users, bearer tokens, passwords."""
