"""The browser side: server-rendered pages (``pages``); i18n and CSRF land here with them."""
