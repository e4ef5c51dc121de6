"""The import contract (DESIGN.md §5): cell parsers (``fields``), file specs (``contract``,
``borrowers``, ``loans``, ``history``, in order in ``files``), and the pipeline that reads,
stages, checks, upserts and reports (``reading``, ``checks``, ``upsert``, ``report``,
``pipeline``)."""
