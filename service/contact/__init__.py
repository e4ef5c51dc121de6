"""Contact: asking the guard about a contact (``checks``); the home of the channels, dispatch,
the contact log, inbound callbacks, promises and arrangements as they land."""
