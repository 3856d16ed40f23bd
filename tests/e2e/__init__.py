"""End-to-end tests: a real server process, spoken to over HTTP."""
