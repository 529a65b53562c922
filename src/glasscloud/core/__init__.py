"""The domain, sans-I/O: sessions, App lifecycle, subscriptions, microphone state.

No sockets and no HTTP here. Time comes from a `Clock` the tests can drive; output goes to
small `Connection` objects; anything slow (webhooks, the database) is asked of `SessionEffects`,
whose answers come back as plain method calls.
"""
