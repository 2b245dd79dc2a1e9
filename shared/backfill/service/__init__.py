"""Use cases: detect gaps, work a request, seed a league. Plain functions, dependencies by name."""
