"""Use cases, each a module: detect (find gaps, publish), work (one delivery: gather, decide,
compute, write, record), audit and ledger (Backfill's own tables), dead_letters, quarantine,
runs, status. No vendor library here: the warehouse and queue come in through the ports."""
