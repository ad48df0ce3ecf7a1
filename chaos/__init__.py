"""The chaos run: the integrator under injected faults, checked against DIGIT's own records.

`make chaos` (2,000 payments) or `make chaos CHAOS_PAYMENTS=300` (the CI size); see chaos.run.
"""
