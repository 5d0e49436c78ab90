"""Referrals: intake, the state machine, updates and cancellation."""
