"""node.sim (see DESIGN.md for what it holds)."""
