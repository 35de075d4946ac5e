//! `WS /api/v1/ws/jobs` against the real server: real TLS with a client certificate, a real
//! tungstenite client, events published into the running agent's hub.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use linux_patch_api::jobs::events::JobEvent;
use linux_patch_api::jobs::{Job, JobError, JobRequest, JobResult, JobStatus};
use linux_patch_api::pkg::RemoveOptions;
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;
use uuid::Uuid;

/// Job `id` (a removal) at `status` and `progress`.
fn job(id: Uuid, status: &str, progress: u8) -> Job {
    let request = JobRequest::Remove {
        name: "lpa-hello".into(),
        options: RemoveOptions::default(),
    };
    let mut job = Job::new(id, request, time::OffsetDateTime::now_utc());
    job.status = JobStatus::from_name(status).expect("a status name");
    job.progress_percent = progress;
    job
}

fn status_event(id: Uuid, status: &str, progress: u8) -> JobEvent {
    JobEvent::of(&job(id, status, progress))
}

/// The last event of job `id`: it ended at `status` with `error` (if any) and `log`.
fn complete_event(id: Uuid, status: &str, error: Option<&str>, log: &str) -> JobEvent {
    let mut job = job(id, status, 100);
    job.note("info", log);
    job.result = Some(JobResult {
        success: error.is_none(),
        ..JobResult::default()
    });
    job.error = error.map(|e| JobError::new("PKG_NOT_FOUND", e));
    JobEvent::of(&job)
}

/// The close frame that ends the stream, skipping anything before it.
fn next_close(ws: &mut Ws) -> tungstenite::protocol::CloseFrame {
    loop {
        match ws.read().unwrap() {
            Message::Close(Some(frame)) => return frame,
            Message::Close(None) => panic!("close without a code"),
            _ => {}
        }
    }
}

#[test]
fn streams_every_job_in_order_without_a_subscribe() {
    let env = Env::new("ws-all");
    let agent = env.start(env.config());
    let (mut ws, resp) = ws_connect(agent.addr(), env.client_config()).unwrap();
    assert_eq!(resp.status(), 101);
    let rid = resp.headers()["x-request-id"].to_str().unwrap();
    assert!(
        Uuid::parse_str(rid).is_ok(),
        "X-Request-Id on the 101: {rid}"
    );

    let hub = agent.running().events();
    assert_eq!(hub.subscriber_count(), 1, "subscribed before the 101");
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    hub.publish(&status_event(a, "pending", 0));
    hub.publish(&status_event(a, "running", 10));
    hub.publish(&status_event(b, "running", 5));
    hub.publish(&status_event(a, "running", 60));
    hub.publish(&complete_event(
        a,
        "failed",
        Some("PKG_NOT_FOUND: nope"),
        "the log",
    ));

    let expected = [
        (a, "job_status", "pending", 0),
        (a, "job_status", "running", 10),
        (b, "job_status", "running", 5),
        (a, "job_status", "running", 60),
        (a, "job_complete", "failed", 100),
    ];
    for (job, kind, status, progress) in expected {
        let v = ws_next_json(&mut ws);
        assert_eq!(v["type"], kind, "{v}");
        assert_eq!(v["job_id"], job.to_string(), "{v}");
        assert_eq!(v["status"], status, "{v}");
        assert_eq!(v["progress_percent"], progress, "{v}");
        if kind == "job_status" {
            assert_eq!(v["payload"]["status"], status, "{v}");
        } else {
            assert_eq!(v["payload"]["result"]["success"], false, "{v}");
            assert_eq!(v["payload"]["error"], "PKG_NOT_FOUND: nope");
            assert_eq!(v["payload"]["error_code"], "PKG_NOT_FOUND");
            assert_eq!(v["payload"]["output"], "the log");
            assert_eq!(v["error"], "PKG_NOT_FOUND: nope");
            assert_eq!(v["output"], "the log");
        }
    }
}

#[test]
fn subscribe_narrows_to_the_named_job_and_subscribe_all_widens() {
    let env = Env::new("ws-sub");
    let agent = env.start(env.config());
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let hub = agent.running().events();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    ws_send(
        &mut ws,
        &format!(r#"{{"type":"subscribe","job_id":"{a}"}}"#),
    );
    // Messages are handled in order: once the pong is back, the subscription is in force.
    ws_send(&mut ws, r#"{"type":"ping","payload":{}}"#);
    assert_eq!(ws_next_json(&mut ws)["type"], "pong");
    hub.publish(&status_event(b, "running", 1));
    hub.publish(&status_event(a, "running", 2));
    hub.publish(&status_event(b, "running", 3));
    hub.publish(&complete_event(a, "completed", None, "done"));
    let first = ws_next_json(&mut ws);
    let second = ws_next_json(&mut ws);
    assert_eq!(first["job_id"], a.to_string(), "{first}");
    assert_eq!(first["progress_percent"], 2);
    assert_eq!(second["type"], "job_complete", "{second}");
    assert_eq!(second["job_id"], a.to_string());
    assert!(second.get("error").is_none(), "{second}");

    ws_send(&mut ws, r#"{"type":"subscribe_all","payload":{}}"#);
    ws_send(&mut ws, r#"{"type":"ping"}"#);
    assert_eq!(ws_next_json(&mut ws)["type"], "pong");
    hub.publish(&status_event(b, "running", 4));
    assert_eq!(ws_next_json(&mut ws)["job_id"], b.to_string());
}

#[test]
fn ping_gets_pong_and_garbage_gets_an_error_frame() {
    let env = Env::new("ws-ping");
    let agent = env.start(env.config());
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    ws_send(&mut ws, r#"{"type":"ping","payload":{}}"#);
    assert_eq!(
        ws_next_json(&mut ws),
        json!({"type": "pong", "payload": {}})
    );
    for garbage in [
        "this is not json",
        r#"{"type":"dance"}"#,
        r#"{"type":"subscribe","job_id":"not-a-uuid"}"#,
    ] {
        ws_send(&mut ws, garbage);
        let v = ws_next_json(&mut ws);
        assert_eq!(v["type"], "error", "{garbage}: {v}");
        assert_eq!(v["payload"]["code"], "INVALID_REQUEST");
        assert!(v["payload"]["message"].as_str().unwrap().len() > 10, "{v}");
    }
    ws_send(&mut ws, r#"{"type":"ping"}"#);
    assert_eq!(ws_next_json(&mut ws)["type"], "pong", "still open");
}

#[test]
fn the_session_limit_refuses_the_next_upgrade() {
    let env = Env::new("ws-limit");
    let mut config = env.config();
    config.jobs.websocket_max_sessions = 1;
    let agent = env.start(config);
    let (mut first, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let err = ws_connect(agent.addr(), env.client_config()).unwrap_err();
    let tungstenite::Error::Http(resp) = err else {
        panic!("expected an HTTP refusal, got {err:?}");
    };
    assert_eq!(resp.status(), 503);
    if let Some(Ok(v)) = resp
        .body()
        .as_ref()
        .map(|b| serde_json::from_slice::<Value>(b))
    {
        assert_eq!(v["error"]["code"], "SERVICE_UNHEALTHY", "{v}");
        assert_eq!(v["error"]["retryable"], true);
    }
    ws_send(&mut first, r#"{"type":"ping"}"#);
    assert_eq!(
        ws_next_json(&mut first)["type"],
        "pong",
        "the first is unharmed"
    );
    // Closing the first frees its place.
    first.close(None).unwrap();
    while first.read().is_ok() {}
    assert!(eventually(Duration::from_secs(10), || ws_connect(
        agent.addr(),
        env.client_config()
    )
    .is_ok()));
}

#[test]
fn upgrades_draw_from_the_job_operations_budget() {
    let env = Env::new("ws-rate");
    let mut config = env.config();
    config.rate_limits.job_operations.requests = 1;
    let agent = env.start(config);
    let _first = ws_connect(agent.addr(), env.client_config()).unwrap();
    let err = ws_connect(agent.addr(), env.client_config()).unwrap_err();
    let tungstenite::Error::Http(resp) = err else {
        panic!("expected an HTTP refusal, got {err:?}");
    };
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
}

#[test]
fn a_plain_get_of_the_stream_is_a_400_envelope() {
    let env = Env::new("ws-plain");
    let agent = env.start(env.config());
    let resp = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/ws/jobs",
        None,
    );
    let v = assert_error(&resp, 400, "INVALID_REQUEST");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Upgrade: websocket"));
}

#[test]
fn a_slow_reader_is_dropped_and_the_publisher_never_blocks() {
    let env = Env::new("ws-slow");
    let mut config = env.config();
    config.jobs.websocket_max_sessions = 1;
    config.rate_limits.enabled = false;
    let agent = env.start(config);
    let (slow, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let hub = agent.running().events();
    let job = Uuid::new_v4();
    let blob = "x".repeat(2048);
    let total = 20_000;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for n in 0..total {
        let event = JobEvent {
            output: Some(blob.as_str().into()),
            ..status_event(job, "running", (n % 100) as u8)
        };
        let t = Instant::now();
        hub.publish(&event);
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "one publish took {slowest:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "publishing took {:?}",
        started.elapsed()
    );
    assert!(
        eventually(Duration::from_secs(10), || hub.subscriber_count() == 0),
        "the hub dropped the slow subscriber"
    );
    // Its session ended and freed the only place.
    assert!(
        eventually(Duration::from_secs(20), || ws_connect(
            agent.addr(),
            env.client_config()
        )
        .is_ok()),
        "the slow session released its place"
    );
    // What the slow client finally reads: part of the flood, then the end of the stream.
    let frames = ws_frames_until_end(slow);
    let texts = frames
        .iter()
        .filter(|m| matches!(m, Message::Text(_)))
        .count();
    assert!(texts < total, "{texts} frames: it was not dropped");
    if let Some(Message::Close(Some(frame))) = frames.last() {
        assert_eq!(frame.code, CloseCode::from(1013), "{frame:?}");
        assert!(frame.reason.as_str().contains("overflowed"), "{frame:?}");
    }
}

#[test]
fn idle_timeout_closes_a_silent_client_while_pongs_keep_another_open() {
    let env = Env::new("ws-idle");
    let mut config = env.config();
    config.jobs.websocket_idle_timeout_seconds = 2;
    let agent = env.start(config);
    let (mut lively, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let (silent, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let reader = thread::spawn(move || {
        // Reading makes tungstenite answer every ping with a pong.
        let started = Instant::now();
        let mut pings = 0;
        while started.elapsed() < Duration::from_millis(3500) {
            if let Message::Ping(_) = lively.read().unwrap() {
                pings += 1;
            }
        }
        ws_send(&mut lively, r#"{"type":"ping"}"#);
        let pong = ws_next_json(&mut lively);
        (pings, pong)
    });
    let started = Instant::now();
    let frames = ws_frames_until_end(silent);
    let took = started.elapsed();
    let pings = frames
        .iter()
        .filter(|m| matches!(m, Message::Ping(_)))
        .count();
    assert!(pings >= 2, "pinged every third of the timeout: {frames:?}");
    let Some(Message::Close(Some(frame))) = frames.last() else {
        panic!("no close frame: {frames:?}");
    };
    assert_eq!(frame.code, CloseCode::Normal);
    assert_eq!(frame.reason.as_str(), "idle timeout");
    assert!(took >= Duration::from_secs(2), "closed after {took:?}");
    let (lively_pings, pong) = reader.join().unwrap();
    assert!(lively_pings >= 3, "{lively_pings} pings in 3.5 s");
    assert_eq!(
        pong["type"], "pong",
        "the answering client outlived the timeout"
    );
}

#[test]
fn a_client_without_a_certificate_never_gets_a_101() {
    let env = Env::new("ws-nocert");
    let agent = env.start(env.config());
    let config = client_config(&env.ca.cert_pem, None, &[&rustls::version::TLS13]);
    let err = ws_connect(agent.addr(), config).unwrap_err();
    assert!(
        !matches!(err, tungstenite::Error::Http(_)),
        "got an HTTP answer: {err:?}"
    );
    assert_eq!(agent.running().events().subscriber_count(), 0);
}

#[test]
fn a_session_does_not_hold_the_only_worker() {
    let env = Env::new("ws-worker");
    let mut config = env.config();
    config.server.workers = 1;
    let agent = env.start(config);
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    let resp = request(
        agent.addr(),
        env.client_config(),
        "GET",
        "/api/v1/health",
        None,
    );
    assert_eq!(resp.status, 200);
    // And a second session next to the first, still with one worker.
    let (mut second, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    for ws in [&mut ws, &mut second] {
        ws_send(ws, r#"{"type":"ping"}"#);
        assert_eq!(ws_next_json(ws)["type"], "pong");
    }
}

#[test]
fn shutdown_closes_sessions_with_1001() {
    let env = Env::new("ws-shutdown");
    let agent = env.start(env.config());
    let (mut ws, _) = ws_connect(agent.addr(), env.client_config()).unwrap();
    agent.running().shutdown();
    let frame = next_close(&mut ws);
    assert_eq!(frame.code, CloseCode::Away);
    let started = Instant::now();
    agent.stop().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping waited {:?}",
        started.elapsed()
    );
}
