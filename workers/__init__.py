"""The worker side, built from the same Settings as the web side: arq's entry (``main``), the
worker and its cron (``worker``), the jobs and who runs them (``jobs``), and the one bundle of
resources every job is handed (``deps``)."""
