"""Test-wide settings: property tests draw the same examples on every run (seeds fixed)."""

from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("reproducible")
