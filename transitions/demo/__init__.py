"""Demo data: an IOP directory (from the SAMHSA 2022 directory when present), organizations, users and referrals.

`flask seed-demo` calls seed() and prints describe(); the directory plan needs no database (plan_directory).
"""

from transitions.demo.directory import plan_directory
from transitions.demo.generator import FALLBACK_SITES
from transitions.demo.samhsa import SAMHSA_FILE, samhsa_path
from transitions.demo.seeding import ADMIN_EMAIL, describe, seed

__all__ = ["ADMIN_EMAIL", "FALLBACK_SITES", "SAMHSA_FILE", "describe", "plan_directory", "samhsa_path", "seed"]
