"""Test doubles shared across the suite (the scripted model server)."""
