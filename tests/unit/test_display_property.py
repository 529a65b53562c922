"""Property: any sequence of starts, stops, display requests and clock advances never shows
content of a stopped App, never sends two main-view updates closer than the throttle, never
sends an App's older content after its newer content, and settles in an allowed state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from glasscloud.core.display_manager import Content
from tests.support.display_rig import DASH, Rig, is_boot, is_clear

PACKAGES = ("M", "A", "B", "C")
DURATIONS = (None, 0, 500, 2000)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.sampled_from(PACKAGES), st.booleans()),
        st.tuples(st.just("stop"), st.sampled_from(PACKAGES)),
        st.tuples(st.just("show"), st.sampled_from(PACKAGES), st.sampled_from(DURATIONS)),
        st.tuples(st.just("clear_view"), st.sampled_from(PACKAGES)),
        st.tuples(st.just("advance"), st.sampled_from((0.01, 0.1, 0.29, 0.3, 0.5, 1.0, 2.5))),
        st.tuples(st.just("reconnect")),
    ),
    max_size=40,
)


class CheckedRig(Rig):
    """Checks every main-view send the moment it happens."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = 0
        self.last_seq: dict[str, int] = {}
        self.standard: str | None = None

    def _to_glasses(self, text: str) -> None:
        super()._to_glasses(text)
        at, message = self.sent[-1]
        if message["view"] != "main":
            return
        previous = [t for t, m in self.sent[:-1] if m["view"] == "main"]
        assert not previous or at - previous[-1] >= self.timings.display_throttle - 1e-6
        package = message["packageName"]
        if package == DASH:
            assert is_boot(message) or is_clear(message)
            return
        assert package in self.running, f"content of stopped App {package} sent"
        number = int(message["layout"]["text"].split("#")[1])
        assert number >= self.last_seq.get(package, -1), "older content after newer"
        self.last_seq[package] = number

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == "start":
            _, package, standard = op
            if package in self.running:
                return
            if standard:
                if self.standard in self.running:
                    self.stop(self.standard)  # the session keeps one standard App
                self.standard = package
            self.start(package, "standard" if standard else "background")
        elif kind == "stop":
            if op[1] in self.running:
                self.stop(op[1])
        elif kind == "show":
            _, package, duration = op
            self.seq += 1
            status = self.show(package, f"{package}#{self.seq}", duration)
            assert status != "rejected" or package not in self.running
        elif kind == "clear_view":
            self.show(op[1], "", layout={"layoutType": "clear_view"})
        elif kind == "advance":
            self.advance(op[1])
        else:
            self.dm.glasses_connected()


@settings(max_examples=300, deadline=None)
@given(ops)
def test_display_invariants_hold_for_any_sequence(sequence):
    rig = CheckedRig()
    for op in sequence:
        rig.apply(op)
    rig.advance(60)  # longer than every boot, lock, duration and throttle window
    dm = rig.dm
    assert not dm.booting
    assert all(dm.pending(p) is None for p in PACKAGES), "a request was left pending"
    screen = dm.screen
    if isinstance(screen, Content):
        assert screen.package_name in rig.running
        assert dm.latest.get(screen.package_name) is screen
        assert screen.expires_at() is None or screen.expires_at() > rig.now
        main = dm.latest.get(dm.main_app) if dm.main_app else None
        if main is not None and main.duration_ms is None:
            assert screen is main, "the main App's content must own the view"
        assert rig.last()["layout"] == screen.layout
    else:
        # nothing valid to show: the view is clear (or nothing was ever shown)
        assert screen in (None, "clear")
        assert not rig.main() or is_clear(rig.last())
        assert not any(
            c.duration_ms is None and c.package_name == dm.main_app for c in dm.latest.values()
        )
