"""Treatment plans shipped with Arrears, as TOML (``builtin_plan(name)`` reads them)."""
