"""node.wire (see DESIGN.md for what it holds)."""
