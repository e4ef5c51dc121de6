"""Tools for demos, benchmarks and tests, never imported by the production path: the synthetic
demo lender (``demo``) and its floor (``floor``), the local Twilio-compatible server
(``fake_twilio``); the simulation joins here."""
