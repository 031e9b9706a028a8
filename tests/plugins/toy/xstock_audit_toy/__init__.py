"""Toy plug-ins for xstock-audit's tests: a chain family, a custody format, a report format."""
