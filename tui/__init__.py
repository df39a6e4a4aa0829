"""The Textual terminal UI: a client of a running node over FCP."""
