"""Model providers behind one streaming ChatProvider protocol (see base.py)."""
