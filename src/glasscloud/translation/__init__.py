"""Translation providers (the interface in `provider`, lookup by name in `registry`)."""
