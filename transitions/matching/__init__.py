"""Matching: hard rules, ranking, near misses and allocation across many referrals."""
