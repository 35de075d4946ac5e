//! One connection's life: TLS handshake with a deadline, then the HTTP/1.1 keep-alive loop.
