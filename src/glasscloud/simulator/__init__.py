"""`glasscloud glasses`: a terminal glasses simulator for App developers without hardware.
It connects to `/glasses-ws` as a user, starts and stops Apps, sends button presses, head
position, typed speech and WAV audio, and draws what the Apps display. Like a phone, it
reconnects with backoff after a server restart or a lost connection (`simulator.reconnect`)."""

from glasscloud.simulator.client import GlassesSimulator, glasses_ws_url, run_simulator
from glasscloud.simulator.reconnect import Backoff
from glasscloud.simulator.render import render_layout, render_screen
from glasscloud.simulator.state import GlassesState

__all__ = [
    "Backoff",
    "GlassesSimulator",
    "GlassesState",
    "glasses_ws_url",
    "render_layout",
    "render_screen",
    "run_simulator",
]
