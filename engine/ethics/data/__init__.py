"""Data files of the ethics stage: the semantic layer's exemplars (read through importlib.resources)."""
