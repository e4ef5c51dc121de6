"""Casework: tasks for people outside the dialer (``tasks``); the home of escalations (field
visit, agency, legal, write-off with maker-checker) and post-loan inspections as they land."""
