"""Interoperability with other evaluation harnesses (optional: nothing here is imported by the CLI)."""
