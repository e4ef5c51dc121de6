"""The portfolio as people see it: reads with visibility, payments through the API, loan events
(extension, restructuring) and the exports outside tools rely on."""
