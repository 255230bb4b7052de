"""The response cache (in progress: see the cache issue)."""
