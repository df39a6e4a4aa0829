"""node.net (see DESIGN.md for what it holds)."""
