"""Tests for node.gateway."""
