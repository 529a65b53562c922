"""What a bound App socket sends, dispatched. The socket IS the App: nothing inside a message
changes who it acts as (a `packageName` naming another App is refused), and every refusal
is an error frame with a code, the field and a sentence, the socket kept open."""

from __future__ import annotations

from glasscloud.core.app_comms import MESSAGE_TYPES, Member
from glasscloud.core.apps import AppState
from glasscloud.core.calendar import CalendarCache
from glasscloud.core.context import SessionContext
from glasscloud.core.display import DASHBOARD_MESSAGES, Display
from glasscloud.core.hardware import Hardware
from glasscloud.core.lifecycle import AppLifecycle
from glasscloud.core.ports import Connection
from glasscloud.core.router import Router
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.hardware import APP_HARDWARE_MESSAGES


class AppMessages:
    def __init__(
        self, ctx: SessionContext, lifecycle: AppLifecycle, router: Router, display: Display
    ) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle
        self.router = router
        self.display = display
        self.calendar = CalendarCache(ctx, router.subscriptions)
        self.hardware = Hardware(
            ctx, lifecycle.slots, router.requests, lambda: lifecycle.glasses_attached
        )

    def text(self, conn: Connection, text: str) -> None:
        """One text frame from a bound App socket: it acts as the App of that socket only."""
        slot = self.lifecycle.slot_for(conn)
        if slot is None:
            return
        if slot.state is AppState.STOPPING:
            # Its own clean-up in onStop (unsubscribing, a last display): nothing to answer.
            self.ctx.metrics.inc("app_messages_while_stopping")
            return
        try:
            msg = app_wire.decode_app_message(text)
        except ProtocolError as error:
            self.ctx.app_error(slot, error)
            return
        kind = msg.type
        claimed = msg.obj.get("packageName")
        if isinstance(claimed, str) and claimed and claimed != slot.package_name:
            self.ctx.metrics.inc("impersonation_attempts")
            self.ctx.app_error(
                slot,
                ProtocolError(
                    ErrorCode.PACKAGE_MISMATCH,
                    f"This connection belongs to {slot.package_name}; a message claiming to "
                    f"be from {claimed} was ignored.",
                    "packageName",
                ),
            )
            return
        error = None
        if kind == "subscription_update":
            had_calendar = self.calendar.subscribed_to(slot.package_name)
            self.router.update(slot, msg.obj["subscriptions"])
            self.calendar.after_update(slot, had_calendar)
        elif kind == "display_event":
            # Shown as the bound App, never as the packageName inside the message.
            self.display.show(slot.package_name, msg.obj)
        elif kind in DASHBOARD_MESSAGES:
            error = self.display.app_message(slot.package_name, kind, msg.obj)
        elif kind in APP_HARDWARE_MESSAGES:
            error = self.hardware.app_message(slot, kind, msg.obj)
        elif kind == "ownership_release":
            slot.released = str(msg.obj.get("reason") or "")
        elif kind in MESSAGE_TYPES and self.ctx.services.app_comms is not None:
            # To other users' sessions of the same App: the rule is core/app_comms.py.
            sender = Member(self.ctx.user_id, slot.app_session_id, conn)
            error = self.ctx.services.app_comms.handle(sender, slot.package_name, kind, msg.obj)
        elif kind == "tpa_connection_init":
            error = ProtocolError(
                ErrorCode.ALREADY_AUTHENTICATED,
                f"This socket is already authenticated as {slot.package_name}; the second "
                "tpa_connection_init was ignored.",
                "type",
            )
        else:
            error = ProtocolError(
                ErrorCode.NOT_SUPPORTED,
                f"'{kind}' is not supported by this glasscloud version yet.",
                "type",
            )
        if error is not None:
            self.ctx.app_error(slot, error)

    def binary(self, conn: Connection) -> None:
        slot = self.lifecycle.slot_for(conn)
        if slot is not None and slot.state is not AppState.STOPPING:
            self.ctx.app_error(
                slot,
                ProtocolError(
                    ErrorCode.BINARY_NOT_ALLOWED,
                    "Apps send JSON in text frames; binary frames are not accepted.",
                ),
            )
