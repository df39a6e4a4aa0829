"""node.client (see DESIGN.md for what it holds)."""
