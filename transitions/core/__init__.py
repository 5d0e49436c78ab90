"""The shared core every domain stands on: database, errors, clock, audit, idempotency, pagination, fields."""
