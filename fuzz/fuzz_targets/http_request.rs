//! HTTP/1.1 request reading (request line, headers, lengths, chunking, pipelining) over an
//! in-memory connection; every request that parses has a path starting with `/`.
#![no_main]
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use linux_patch_api::http::request::{ReadOutcome, RequestReader};
use linux_patch_api::http::server::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        handshake: Duration::from_secs(1),
        head: Duration::from_secs(1),
        body: Duration::from_secs(1),
        keep_alive_idle: Duration::from_secs(1),
        write: Duration::from_secs(1),
        max_header_bytes: 8192,
        max_headers: 64,
        max_body_bytes: 65536,
    };
    let mut stream = lpa_fuzz::Script::new(data.to_vec());
    let mut reader = RequestReader::new();
    let stop = AtomicBool::new(false);
    // Pipelined requests: at most a few per input, each must consume bytes or end.
    for _ in 0..8 {
        match reader.read_request(&mut stream, &limits, Duration::from_secs(1), &stop) {
            Ok(ReadOutcome::Request { request, .. }) => {
                assert!(request.body.len() <= limits.max_body_bytes);
            }
            _ => break,
        }
    }
});
