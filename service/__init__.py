"""Arrears: a collections contact-center service (web app, domain rules, data model, CLI)."""

__version__ = "0.1.0"
