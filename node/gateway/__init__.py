"""node.gateway (see DESIGN.md for what it holds)."""
