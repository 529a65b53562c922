"""Timing constants of the core, in seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timings:
    """Timing constants (seconds). Defaults are the reference cloud's where it has one."""

    glasses_grace: float = 60.0
    app_start_timeout: float = 5.0  # from when the start webhook is sent
    # How long a start webhook may wait in its App server's queue before the start fails.
    app_start_queue_cap: float = 30.0
    app_reconnect_grace: float = 5.0
    app_restart_backoff: float = 1.0
    app_max_restarts: int = 3
    app_stable_run: float = 60.0
    # After a restart, how long after the previous process went away the Apps it served may
    # still reconnect on their own (they are asked by webhook after that). The SDK retries
    # 1 s, 2 s and 4 s after losing its socket: its last try lands ~7 s after the close.
    app_resume_window: float = 8.0
    # What each App last showed is persisted at most this often (and at shutdown).
    display_save_delay: float = 1.0
    webhook_timeout: float = 10.0
    webhook_attempts: int = 2
    webhook_retry_delay: float = 1.0
    stop_webhook_timeout: float = 5.0
    mic_debounce: float = 1.0
    subscription_mic_debounce: float = 0.1
    auth_timeout: float = 10.0
    ping_interval: float = 10.0
    # display arbitration (docs/display.md)
    display_throttle: float = 0.3
    boot_duration: float = 1.5
    display_lock: float = 10.0
    display_lock_inactive: float = 2.0
    min_display_lifetime: float = 1.0
    missed_pings: int = 3
    # location (core/location.py) and camera streaming (core/streaming.py)
    location_poll_timeout: float = 10.0
    rtmp_keepalive_interval: float = 15.0
    rtmp_max_missed_acks: int = 3
