"""Reporting: what a finished run is turned into for people (tables today)."""
