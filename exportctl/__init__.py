"""exportctl: declarative exports of a proxy-rotation system's data."""

__version__ = "0.1.0"
