"""Arrears' templates as package data: web pages, and SMS, voice (TwiML) and letters per locale.

Found through ``importlib.resources`` / Jinja2's ``PackageLoader``, never by path arithmetic, so
an installed Arrears renders exactly what a checkout does.
"""
