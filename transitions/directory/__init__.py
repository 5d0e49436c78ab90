"""The directory: IOP programs, their tracks and the live seat counts."""
