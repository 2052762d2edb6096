"""Shared kernel: ids, clock, domain events, aggregate roots, domain errors."""
