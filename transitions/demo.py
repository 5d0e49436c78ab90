"""Demo data (placeholder until the seeding module lands)."""


def seed(program_count, seed, data_dir):
    return {}


def describe(summary):
    return ""
