"""One router per resource, plus health and metrics."""
