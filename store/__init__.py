"""The datastore: an encrypted, size-bounded, crash-safe block store on SQLite."""
