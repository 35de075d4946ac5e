//! Hostile WebSocket input against the live agent over real mutual TLS: raw frames that
//! break RFC 6455 (over the size limit, fragmented or oversized control frames, unmasked,
//! reserved opcodes and bits, text that is not UTF-8, close frames with invalid codes), and
//! a client that names more jobs than a session may hold.
//!
//! Each broken frame ends the session with the close code RFC 6455 7.4.1 names, the session
//! frees its place and its event subscription, and the agent keeps serving.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::ClientConfig;
use tungstenite::Message;
use uuid::Uuid;

/// FIN bit and opcodes of a frame's first byte.
const FIN: u8 = 0x80;
const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// A client frame: `first` is FIN/RSV/opcode, the payload masked unless `masked` is false.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = header(first, payload.len() as u64, masked);
    let key = [0x37, 0xfa, 0x21, 0x3d];
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| if masked { b ^ key[i % 4] } else { *b }),
    );
    out
}

/// A frame header announcing `len` payload bytes (with the mask key when `masked`).
fn header(first: u8, len: u64, masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&[0x37, 0xfa, 0x21, 0x3d]);
    }
    out
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// Opens a session, sends `bytes` raw, and returns the close code the agent ended with.
fn close_code_for(addr: SocketAddr, config: Arc<ClientConfig>, bytes: &[u8]) -> u16 {
    let (mut ws, _) = ws_connect(addr, config).unwrap();
    let tls = ws.get_mut();
    // The write may fail once the agent has closed on an early part of it: that is fine.
    let _ = tls.write_all(bytes).and_then(|()| tls.flush());
    let frames = ws_frames_until_end(ws);
    match frames.last() {
        Some(Message::Close(Some(frame))) => u16::from(frame.code),
        other => panic!("no close frame: {other:?} after {frames:?}"),
    }
}

fn agent(env: &Env) -> Agent {
    let mut config = env.config();
    config.rate_limits.enabled = false;
    config.jobs.websocket_max_sessions = 64;
    env.start(config)
}

/// A fresh session answers a ping: the agent is serving WebSockets still.
fn ws_still_serving(env: &Env, agent: &Agent) {
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    ws_send(&mut ws, r#"{"type":"ping"}"#);
    assert_eq!(ws_next_json(&mut ws)["type"], "pong");
}

#[test]
fn frames_that_break_rfc_6455_close_the_session_with_the_right_code() {
    let env = Env::new("ws-hostile");
    let agent = agent(&env);
    let big = vec![b'a'; 70 * 1024];
    let half = vec![b'a'; 40 * 1024];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        // Size limits (64 KiB): announced, sent, and reached through fragments.
        (
            "announces 1 GiB",
            [header(FIN | TEXT, 1 << 30, true), vec![b'a'; 1000]].concat(),
            1009,
        ),
        ("sends 70 KiB", frame(FIN | TEXT, &big, true), 1009),
        (
            "fragments past the limit",
            [frame(TEXT, &half, true), frame(FIN | CONT, &half, true)].concat(),
            1009,
        ),
        // Control frames must not be fragmented nor exceed 125 bytes.
        ("ping without FIN", frame(PING, b"x", true), 1002),
        (
            "close without FIN",
            frame(CLOSE, &close_payload(1000, b""), true),
            1002,
        ),
        (
            "ping of 126 bytes",
            frame(FIN | PING, &[b'p'; 126], true),
            1002,
        ),
        // Client frames must be masked.
        (
            "unmasked text",
            frame(FIN | TEXT, br#"{"type":"ping"}"#, false),
            1002,
        ),
        (
            "unmasked close",
            frame(FIN | CLOSE, &close_payload(1000, b""), false),
            1002,
        ),
        // Reserved opcodes and bits (no extension was negotiated).
        ("opcode 3", frame(FIN | 0x3, b"x", true), 1002),
        ("opcode 0xB", frame(FIN | 0xB, b"x", true), 1002),
        ("RSV1", frame(FIN | 0x40 | TEXT, b"{}", true), 1002),
        ("RSV2", frame(FIN | 0x20 | TEXT, b"{}", true), 1002),
        ("RSV3", frame(FIN | 0x10 | PING, b"", true), 1002),
        // Fragmentation out of order.
        ("continuation first", frame(FIN | CONT, b"x", true), 1002),
        (
            "text inside a fragmented text",
            [frame(TEXT, b"{", true), frame(FIN | TEXT, b"{}", true)].concat(),
            1002,
        ),
        // Text that is not UTF-8, whole or split across fragments.
        ("text 0xff", frame(FIN | TEXT, &[0xff, 0xfe], true), 1007),
        (
            "text surrogate",
            frame(FIN | TEXT, &[0xed, 0xa0, 0x80], true),
            1007,
        ),
        (
            "text split mid-character",
            [
                frame(TEXT, &[0xe2, 0x82], true),
                frame(FIN | CONT, &[0x28], true),
            ]
            .concat(),
            1007,
        ),
        // Close frames: codes that may not be sent, a 1-byte body, a reason not UTF-8.
        (
            "close 999",
            frame(FIN | CLOSE, &close_payload(999, b""), true),
            1002,
        ),
        (
            "close 1004",
            frame(FIN | CLOSE, &close_payload(1004, b""), true),
            1002,
        ),
        (
            "close 1005",
            frame(FIN | CLOSE, &close_payload(1005, b""), true),
            1002,
        ),
        (
            "close 1006",
            frame(FIN | CLOSE, &close_payload(1006, b""), true),
            1002,
        ),
        (
            "close 1015",
            frame(FIN | CLOSE, &close_payload(1015, b""), true),
            1002,
        ),
        (
            "close 5000",
            frame(FIN | CLOSE, &close_payload(5000, b""), true),
            1002,
        ),
        ("close 1-byte body", frame(FIN | CLOSE, &[0x03], true), 1002),
        (
            "close reason 0xff",
            frame(FIN | CLOSE, &close_payload(1000, &[0xff]), true),
            1007,
        ),
        // Valid closes are echoed; binary is refused as unsupported.
        (
            "close 1000",
            frame(FIN | CLOSE, &close_payload(1000, b"bye"), true),
            1000,
        ),
        (
            "close 4000",
            frame(FIN | CLOSE, &close_payload(4000, b""), true),
            4000,
        ),
        ("binary", frame(FIN | BINARY, &[1, 2, 3], true), 1003),
    ];
    let hub = agent.running().events();
    // The cases run side by side: each ends in well under a second, but there are many.
    let codes: Vec<(&str, u16, u16)> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(what, bytes, expected)| {
                let (addr, config) = (agent.addr(), env.client_config());
                s.spawn(move || (*what, close_code_for(addr, config, bytes), *expected))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (what, got, expected) in codes {
        assert_eq!(got, expected, "{what}");
    }
    assert!(
        eventually(Duration::from_secs(10), || hub.subscriber_count() == 0),
        "every ended session let go of its event subscription"
    );
    ws_still_serving(&env, &agent);
    let r = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/health",
        None,
    );
    assert_eq!(r.status, 200);
}

/// Sends `messages` text frames, then a ping, and returns the frames received up to the pong.
fn frames_until_pong(ws: &mut Ws, messages: &[String]) -> Vec<serde_json::Value> {
    for m in messages {
        ws.write(Message::text(m.as_str())).unwrap();
    }
    ws_send(ws, r#"{"type":"ping"}"#);
    let mut got = Vec::new();
    loop {
        let v = ws_next_json(ws);
        if v["type"] == "pong" {
            return got;
        }
        got.push(v);
    }
}

fn subscribe(id: Uuid) -> String {
    format!(r#"{{"type":"subscribe","job_id":"{id}"}}"#)
}

fn unsubscribe(id: Uuid) -> String {
    format!(r#"{{"type":"unsubscribe","payload":{{"job_id":"{id}"}}}}"#)
}

#[test]
fn a_session_names_at_most_1000_jobs_and_stays_open_past_the_cap() {
    let env = Env::new("ws-subcap");
    let agent = agent(&env);
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let ids: Vec<Uuid> = (0..1001).map(|_| Uuid::new_v4()).collect();
    let first: Vec<String> = ids[..1000].iter().map(|id| subscribe(*id)).collect();
    assert_eq!(
        frames_until_pong(&mut ws, &first),
        Vec::<serde_json::Value>::new()
    );

    // The 1001st is refused with an error frame; the session stays open.
    let over = frames_until_pong(&mut ws, &[subscribe(ids[1000])]);
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!(over[0]["type"], "error");
    assert_eq!(over[0]["payload"]["code"], "INVALID_REQUEST");
    let message = over[0]["payload"]["message"].as_str().unwrap();
    assert!(message.contains("at most 1000"), "{message}");
    // The refused job's events do not arrive; a subscribed one's do.
    let hub = agent.running().events();
    for id in [ids[1000], ids[999]] {
        let request = linux_patch_api::jobs::JobRequest::Rollback { original: id };
        let mut job = linux_patch_api::jobs::Job::new(id, request, time::OffsetDateTime::now_utc());
        job.status = linux_patch_api::jobs::JobStatus::Running;
        job.progress_percent = 5;
        hub.publish(&linux_patch_api::jobs::events::JobEvent::of(&job));
    }
    assert_eq!(ws_next_json(&mut ws)["job_id"], ids[999].to_string());

    // Freeing a place makes room; a known id at the cap is no growth.
    let room = frames_until_pong(
        &mut ws,
        &[subscribe(ids[0]), unsubscribe(ids[0]), subscribe(ids[1000])],
    );
    assert!(room.is_empty(), "{room:?}");

    // Receiving every job, the unsubscribed set is bounded the same way.
    let mut messages = vec![r#"{"type":"subscribe_all"}"#.to_string()];
    messages.extend(ids[..1000].iter().map(|id| unsubscribe(*id)));
    assert!(frames_until_pong(&mut ws, &messages).is_empty());
    let over = frames_until_pong(&mut ws, &[unsubscribe(ids[1000])]);
    assert_eq!(over.len(), 1, "{over:?}");
    assert!(over[0]["payload"]["message"]
        .as_str()
        .unwrap()
        .contains("unsubscribed from"));
    // The session ends cleanly at the client's wish: the close is answered.
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(e) => panic!("no close reply: {e}"),
        }
    }
}

#[test]
fn hostile_messages_get_error_frames_and_the_session_stays_open() {
    let env = Env::new("ws-messages");
    let agent = agent(&env);
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let messages = [
        "[".repeat(60_000),
        format!(r#"{{"type":"subscribe","job_id":{}}}"#, "9".repeat(50_000)),
        format!(r#"{{"type":"{}"}}"#, "x".repeat(60_000)),
        format!(
            r#"{{"type":"subscribe","job_id":"{}"}}"#,
            r"\u0000".repeat(5_000)
        ),
        r#"{"type":"subscribe","job_id":"0b5e4d4e-8a4f-4c55-9a33-2d2a8f0e7d11\u0000"}"#.into(),
        r#"{"type":"subscribe","payload":{"job_id":1e999999}}"#.into(),
        r#"{"type":"subscribe","job_id":"0b5e4d4e-8a4f-4c55-9a33-2d2a8f0e7d11"} trailing"#.into(),
        String::new(),
        "\u{feff}{\"type\":\"ping\"}".into(),
    ];
    for m in &messages {
        let got = frames_until_pong(&mut ws, std::slice::from_ref(m));
        let head: String = m.chars().take(40).collect();
        assert_eq!(got.len(), 1, "{head:?}: {got:?}");
        assert_eq!(got[0]["type"], "error", "{head:?}");
        assert_eq!(got[0]["payload"]["code"], "INVALID_REQUEST", "{head:?}");
        let text = got[0]["payload"]["message"].as_str().unwrap_or_default();
        assert!(
            (10..2000).contains(&text.len()),
            "{head:?}: a bounded message that says what is wrong: {} bytes",
            text.len()
        );
    }
}
