"""node.fcp (see DESIGN.md for what it holds)."""
