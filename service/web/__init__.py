"""The web side: the app factory (``app``), typed state (``keys``), ``middleware``, the JSON API
(``api``, one module per area) with its generated ``openapi`` document, provider ``webhooks``
and the browser pages (``ui``)."""
