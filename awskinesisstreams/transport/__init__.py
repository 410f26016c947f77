"""Signed HTTP: SigV4, credentials, the request with its timeouts, and retries."""
