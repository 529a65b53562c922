"""Store errors. Each carries a one-sentence `message` fit to show a user as-is."""

from __future__ import annotations


class StoreError(Exception):
    """The store refused an operation or could not reach its database. `field` names the
    refused value (`package_name`, `public_url`, ...) when one was."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AppExists(StoreError):
    """An App with this package name is already registered."""

    def __init__(self, package_name: str) -> None:
        super().__init__(
            f"an app with package name '{package_name}' already exists", "package_name"
        )
        self.package_name = package_name


class AppNotFound(StoreError):
    """No App with this package name is registered."""

    def __init__(self, package_name: str) -> None:
        super().__init__(f"no app with package name '{package_name}' is registered", "package_name")
        self.package_name = package_name


class FencedWrite(StoreError):
    """A write (or takeover) carrying a fencing epoch older than the user's stored
    `owner_epoch`: another node has taken the user over since, so nothing was changed.
    `current_epoch` is the epoch in the database."""

    def __init__(self, user_id: str, epoch: int, current_epoch: int) -> None:
        super().__init__(
            f"the write for user '{user_id}' carries fencing epoch {epoch} but the user was "
            f"taken over with epoch {current_epoch}: this node no longer owns the user",
            "epoch",
        )
        self.user_id = user_id
        self.epoch = epoch
        self.current_epoch = current_epoch
