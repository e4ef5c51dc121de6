"""Assignment and treatment strategy plugins (registry and built-ins arrive with queues)."""
