"""Business rules, in plain functions that take a user and validated data and raise domain errors."""
