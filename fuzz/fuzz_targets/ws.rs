//! WebSocket: client frames read by the agent's configured reader (limits, masking,
//! fragmentation, control frames) and every text message through the subscription parser;
//! a message encoded as a masked client frame reads back unchanged (round trip).
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::api::ws::parse_message;
use linux_patch_api::http::ws::{ws_config, SessionSettings};
use std::time::Duration;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

/// A masked client text frame (RFC 6455 §5.2) carrying `payload`.
fn client_frame(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x81];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fuzz_target!(|data: &[u8]| {
    let settings = SessionSettings::new(Duration::from_secs(60));
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // Round trip: the rest as a message's text.
        let text = String::from_utf8_lossy(rest).into_owned();
        let frame = client_frame(text.as_bytes(), [mode, 1, 2, 3]);
        let mut ws = WebSocket::from_raw_socket(
            lpa_fuzz::Script::new(frame),
            Role::Server,
            Some(ws_config(&settings)),
        );
        match ws.read() {
            Ok(Message::Text(t)) => assert_eq!(t.as_str(), text),
            other if text.len() > settings.max_message_bytes => drop(other),
            other => panic!("a {}-byte text frame read back as {other:?}", text.len()),
        }
        let _ = parse_message(&text);
        return;
    }
    let mut ws = WebSocket::from_raw_socket(
        lpa_fuzz::Script::new(rest.to_vec()),
        Role::Server,
        Some(ws_config(&settings)),
    );
    for _ in 0..32 {
        match ws.read() {
            Ok(Message::Text(t)) => drop(parse_message(t.as_str())),
            Ok(_) => {}
            Err(_) => break,
        }
    }
});
