"""The pure core: gaps, requests, windows and error classes. No I/O here."""
