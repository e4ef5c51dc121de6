"""The pure rules of collections — delinquency, the compliance guard, phone numbers — and the
closed vocabularies every layer shares. No I/O here: plain functions over plain data."""
