"""arq workers: the same Settings as the web side build the worker (see workers.main)."""
