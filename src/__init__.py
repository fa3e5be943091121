"""sugo: a lab-instrument job scheduler.

Kept import-light on purpose: ``sugo status`` must not pay for xarray or numpy.
"""

__version__ = "0.1.0"
