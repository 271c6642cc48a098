"""Data files shipped with the engine (loaded at import through importlib.resources)."""
