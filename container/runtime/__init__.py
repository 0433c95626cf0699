"""The HTTP serving runtime: one ASGI app, every cloud's routes and envelopes."""
