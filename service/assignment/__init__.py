"""Assignment: the routing run (``run``), queues and members, moves and handover, champion/
challenger experiments, and the work list behind "next account" (``worklist``)."""
