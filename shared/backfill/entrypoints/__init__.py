"""Thin entry points: the CLI, the HTTP functions' bodies, the local stack."""
