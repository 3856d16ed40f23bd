"""The analyst's workbench.

- ``workbench.engine``: the batch engine, with no Textual import — scenario files, the market and the
  traffic, the ranking batch (``batch``), outcome simulation, tuning, comparison, reports and exports.
- ``workbench.app``: what talks to people and to servers — the Textual application (``application``,
  ``screens``, ``widgets``, ``app.tcss``), the API client, the local server launcher and its guard,
  replays, provisioning and live runs with their reconciliation.
- ``workbench.cli``: the command line on top of both.
"""
