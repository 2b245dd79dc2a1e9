"""The built-in Phase 3 processors, their formulas, the Phase 2 contract and the registry."""
