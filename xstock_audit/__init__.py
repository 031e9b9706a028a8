"""xstock-audit: prove tokenized stocks are fully backed."""

__version__ = "0.1.0"
