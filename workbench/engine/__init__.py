"""The batch engine: pure computation over a scenario (polars and numpy), no Textual and no network.

It ranks with the server's own definitions (``server.domain``), so that its figures and the API's agree
to the last decimal.
"""
