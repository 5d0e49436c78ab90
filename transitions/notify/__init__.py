"""Telling others what happened: the event outbox and signed webhooks."""
