"""Fuzzing every parser that takes outside bytes (see ``tests/fuzz/targets.py``)."""
