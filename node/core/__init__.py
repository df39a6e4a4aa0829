"""The sans-I/O protocol engine: events in, actions out; no sockets, clocks or threads."""
