"""The local platform: a real Kubernetes control plane on loopback, without Docker."""
