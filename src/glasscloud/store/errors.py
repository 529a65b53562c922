"""Store errors. Each carries a one-sentence `message` fit to show a user as-is."""

from __future__ import annotations


class StoreError(Exception):
    """The store refused an operation or could not reach its database."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AppExists(StoreError):
    """An App with this package name is already registered."""

    def __init__(self, package_name: str) -> None:
        super().__init__(f"an app with package name '{package_name}' already exists")
        self.package_name = package_name


class AppNotFound(StoreError):
    """No App with this package name is registered."""

    def __init__(self, package_name: str) -> None:
        super().__init__(f"no app with package name '{package_name}' is registered")
        self.package_name = package_name
