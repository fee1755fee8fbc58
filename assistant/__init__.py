"""A local, hands-free voice coach."""

__version__ = "0.1.0"
