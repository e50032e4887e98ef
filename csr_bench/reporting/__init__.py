"""Reporting: what a run folder is turned into for people, read from its files only (run_data):
tables/, the HTML report/ with its plots, and the regression check/. No torch."""
