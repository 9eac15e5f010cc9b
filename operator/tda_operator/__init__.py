"""The TDA Platform Kubernetes operator (kopf)."""
