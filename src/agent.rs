//! Wiring: builds TLS, whitelist, application and server from a config and runs them.
