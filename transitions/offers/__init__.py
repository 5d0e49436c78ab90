"""Offers and placements: seat holds, accept/decline/withdraw, attendance, IOP discharge, readmission."""
