"""Close of business: the engine that positions every loan on a date (``engine``) and the
sequence of the night around it (``nightly``)."""
