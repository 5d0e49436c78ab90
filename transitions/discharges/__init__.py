"""Discharges without referral: members a facility's ADT feed discharged with no step-down arranged."""
