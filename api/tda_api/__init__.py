"""The TDA Platform REST facade (FastAPI)."""
