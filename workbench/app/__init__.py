"""The workbench's application side: the terminal application and everything that talks to a server
(the API client, the local server launcher, replays, provisioning, live runs)."""
