"""Widgets shared by the screens: navigation, connection banner, meters."""
