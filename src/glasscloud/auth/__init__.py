"""Core tokens (JWT) for users, API keys for Apps."""
