"""The I/O shell: HTTP and WebSocket endpoints, REST routes, outgoing webhooks, wiring."""
