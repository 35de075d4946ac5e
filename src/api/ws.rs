//! `WS /api/v1/ws/jobs`: the job event stream, one [`JobStream`] handler per session.
//!
//! A session that has sent no subscription receives every job's events (the Patch Manager
//! never subscribes, see INTEROP); the first `subscribe` narrows it to the named jobs and
//! `subscribe_all` widens it again. Job frames carry the specification's `type` and `payload`
//! plus the payload's `job_id`, `status` and `progress_percent` at the top level (and, on
//! completion, `error` and `output`), so both kinds of client can read them. Where the Patch
//! Manager's shape is served, the top-level copy spells a timed-out job `failed` with
//! `error_code` `JOB_TIMEOUT`, while the `payload` keeps the specification's `timeout`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::TryRecvError;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::envelope::{self, ApiError, Reply};
use super::router::{self, Endpoint};
use super::shape::ClientShape;
use super::wire::jobs::{ErrorFrame, JobFrame, PongFrame};
use super::App;
use crate::error_code::ErrorCode;
use crate::http::ws::{Outgoing, SessionSettings, Sessions, Upgrade, WsHandler};
use crate::http::{Peer, Request, Response};
use crate::jobs::events::{JobEvent, Subscription};

/// Events a session may fall behind by before the hub drops it (and it closes).
pub const EVENT_BUFFER: usize = 256;

/// Most job ids one session may name: subscribed to, or (while receiving every job)
/// unsubscribed from. Without a bound a client could grow a session's set without end; a
/// manager follows the handful of jobs it started, and `subscribe_all` covers the rest.
pub const MAX_SUBSCRIPTIONS: usize = 1000;

/// Offers the upgrade when `req` is for the job stream; `None` for any other route.
///
/// The upgrade request passes the same gates as a REST call (certificate, the
/// job_operations rate budget); then a session place is reserved and the hub subscribed.
pub(super) fn upgrade(
    app: &App,
    req: &Request,
    peer: &Peer,
    sessions: &Arc<Sessions>,
) -> Option<Result<Upgrade, Response>> {
    match router::route_request(req) {
        Ok(Endpoint::JobStream) => Some(accept(app, peer, sessions)),
        _ => None,
    }
}

fn accept(app: &App, peer: &Peer, sessions: &Arc<Sessions>) -> Result<Upgrade, Response> {
    let request_id = envelope::new_request_id();
    let refuse = |e: ApiError| {
        let mut resp = envelope::render(&request_id, &Err(e.clone()));
        resp.close = matches!(e, ApiError::AuthInvalidCert(_));
        resp
    };
    let served = app.served();
    let config = &served.config;
    super::authorize(&Ok(Endpoint::JobStream), peer, config).map_err(refuse)?;
    if config.rate_limits.enabled {
        let category = super::rate_category(&Endpoint::JobStream);
        app.limiter
            .check(&super::rate_key(peer), category, Instant::now())
            .map_err(|retry_after| refuse(ApiError::RateLimitExceeded { retry_after }))?;
    }
    let max = config.jobs.websocket_max_sessions;
    let slot = sessions
        .try_reserve(max)
        .ok_or_else(|| refuse(no_session(sessions, max)))?;
    let subscription = app.events.subscribe(EVENT_BUFFER);
    let idle = Duration::from_secs(config.jobs.websocket_idle_timeout_seconds);
    Ok(Upgrade {
        handler: Box::new(JobStream::new(subscription, served.shape)),
        slot,
        headers: vec![("X-Request-Id".to_string(), request_id.to_string())],
        settings: SessionSettings::new(idle),
    })
}

/// Why no session place was free: the agent is stopping, or the limit is reached.
fn no_session(sessions: &Sessions, max: usize) -> ApiError {
    let mut details = Map::new();
    details.insert("max_sessions".into(), Value::from(max));
    let message = if sessions.is_stopping() {
        "the agent is shutting down; no new WebSocket sessions".to_string()
    } else {
        format!("too many WebSocket sessions (jobs.websocket_max_sessions = {max}); retry later")
    };
    ApiError::ServiceUnhealthy { message, details }
}

/// Answers `GET /api/v1/ws/jobs` sent without an upgrade.
pub fn plain_request() -> Result<Reply, ApiError> {
    Err(ApiError::InvalidRequest(
        "GET /api/v1/ws/jobs is a WebSocket endpoint: send Upgrade: websocket, \
         Connection: Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version: 13"
            .to_string(),
    ))
}

/// A message a client may send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// `subscribe`: receive this job's events (narrowing from "all" on the first one).
    Subscribe(Uuid),
    /// `unsubscribe`: stop receiving this job's events.
    Unsubscribe(Uuid),
    /// `subscribe_all`: receive every job's events again.
    SubscribeAll,
    /// `ping`: answered with `pong`.
    Ping,
}

/// Parses one client text frame; the error is the message for the `error` frame.
pub fn parse_message(text: &str) -> Result<ClientMessage, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("message is not valid JSON: {e}"))?;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("message must be a JSON object with a string \"type\"")?;
    match kind {
        "subscribe" => job_id(&v, kind).map(ClientMessage::Subscribe),
        "unsubscribe" => job_id(&v, kind).map(ClientMessage::Unsubscribe),
        "subscribe_all" => Ok(ClientMessage::SubscribeAll),
        "ping" => Ok(ClientMessage::Ping),
        other => Err(format!(
            "unknown message type {:?}; expected subscribe, unsubscribe, subscribe_all or ping",
            shown(other)
        )),
    }
}

/// The `job_id` of a message, at the top level or inside `payload` (both shapes are in use).
fn job_id(v: &Value, kind: &str) -> Result<Uuid, String> {
    let raw = v
        .get("job_id")
        .or_else(|| v.get("payload").and_then(|p| p.get("job_id")))
        .ok_or_else(|| format!("{kind} needs a job_id"))?;
    let text = raw
        .as_str()
        .ok_or_else(|| format!("job_id must be a string, got {}", shown(&raw.to_string())))?;
    Uuid::parse_str(text).map_err(|_| format!("job_id is not a UUID: {:?}", shown(text)))
}

/// Most characters of a client's value repeated in an error frame.
const SHOWN_CHARS: usize = 64;

/// The start of a client's value for an error message: enough to recognise it, without
/// echoing a message of up to 64 KiB back.
fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_string(),
    }
}

/// Which jobs' events a session receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every job except those unsubscribed from (the state before any subscription).
    All {
        /// Jobs unsubscribed from while receiving all.
        excluded: BTreeSet<Uuid>,
    },
    /// Only these jobs.
    Only(BTreeSet<Uuid>),
}

impl Default for Filter {
    fn default() -> Filter {
        Filter::All {
            excluded: BTreeSet::new(),
        }
    }
}

impl Filter {
    /// Applies a subscription message (`ping` changes nothing). A message that would name
    /// more than [`MAX_SUBSCRIPTIONS`] jobs changes nothing and returns the error message.
    pub fn apply(&mut self, msg: &ClientMessage) -> Result<(), String> {
        match (&mut *self, msg) {
            (Filter::All { .. }, ClientMessage::Subscribe(id)) => {
                *self = Filter::Only(BTreeSet::from([*id]));
            }
            (Filter::Only(ids), ClientMessage::Subscribe(id)) => {
                insert_bounded(ids, *id, "subscribed to")?;
            }
            (Filter::All { excluded }, ClientMessage::Unsubscribe(id)) => {
                insert_bounded(excluded, *id, "unsubscribed from")?;
            }
            (Filter::Only(ids), ClientMessage::Unsubscribe(id)) => {
                ids.remove(id);
            }
            (_, ClientMessage::SubscribeAll) => *self = Filter::default(),
            (_, ClientMessage::Ping) => {}
        }
        Ok(())
    }

    /// Whether events of `job` pass.
    pub fn admits(&self, job: &Uuid) -> bool {
        match self {
            Filter::All { excluded } => !excluded.contains(job),
            Filter::Only(ids) => ids.contains(job),
        }
    }
}

/// Adds `id` unless the set is full; an id already present is fine at any size.
fn insert_bounded(ids: &mut BTreeSet<Uuid>, id: Uuid, what: &str) -> Result<(), String> {
    if ids.len() >= MAX_SUBSCRIPTIONS && !ids.contains(&id) {
        return Err(format!(
            "too many jobs {what}: a session may name at most {MAX_SUBSCRIPTIONS}; \
             unsubscribe from some, or send subscribe_all"
        ));
    }
    ids.insert(id);
    Ok(())
}

/// The frame for one job event: `job_status`, or `job_complete` for the last one; the
/// top-level fields in `shape`, the payload as the specification has it.
pub fn render_event(event: &JobEvent, shape: ClientShape) -> String {
    text(&JobFrame::of(event, shape))
}

/// The `error` frame for a message the session could not act on.
pub fn error_frame(message: &str) -> String {
    text(&ErrorFrame::new(
        ErrorCode::InvalidRequest.as_str(),
        message,
    ))
}

/// The answer to `ping`.
pub fn pong_frame() -> String {
    text(&PongFrame::new())
}

/// What a frame says when it cannot be written: never for these frames (strings, numbers
/// and lists only), but a session must not die of it either.
const UNRENDERABLE: &str =
    r#"{"payload":{"code":"INTERNAL_ERROR","message":"cannot render this frame"},"type":"error"}"#;

/// A frame's text.
fn text(frame: &impl Serialize) -> String {
    serde_json::to_string(frame).unwrap_or_else(|e| {
        log::error!("cannot render a WebSocket frame: {e}");
        UNRENDERABLE.to_string()
    })
}

/// One session's view of the job event hub; dropping it leaves the hub.
pub struct JobStream {
    events: Subscription,
    filter: Filter,
    shape: ClientShape,
}

impl JobStream {
    /// A stream over a hub subscription, receiving every job until told otherwise, framed
    /// in `shape` (the one served when the session opened).
    pub fn new(events: Subscription, shape: ClientShape) -> JobStream {
        JobStream {
            events,
            filter: Filter::default(),
            shape,
        }
    }
}

impl WsHandler for JobStream {
    fn on_text(&mut self, text: &str) -> Vec<String> {
        match parse_message(text) {
            Ok(ClientMessage::Ping) => vec![pong_frame()],
            Ok(msg) => match self.filter.apply(&msg) {
                Ok(()) => Vec::new(),
                Err(message) => vec![error_frame(&message)],
            },
            Err(message) => vec![error_frame(&message)],
        }
    }

    fn poll_outgoing(&mut self) -> Outgoing {
        loop {
            match self.events.receiver.try_recv() {
                Ok(event) if self.filter.admits(&event.job_id()) => {
                    return Outgoing::Frame(render_event(&event, self.shape))
                }
                Ok(_) => {}
                Err(TryRecvError::Empty) => return Outgoing::Idle,
                // The hub drops a subscriber only when its buffer overflowed.
                Err(TryRecvError::Disconnected) => {
                    return Outgoing::Dropped(format!(
                        "job event stream overflowed ({EVENT_BUFFER} events behind); reconnect"
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::events::Events;
    use crate::jobs::{Job, JobError, JobRequest, JobStatus};
    use crate::pkg::RemoveOptions;

    const SPEC: ClientShape = ClientShape::Specification;

    fn id(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    /// An event of job `id` at `status` and `progress`, carrying `output`.
    fn event(id: Uuid, status: JobStatus, progress: u8, output: Option<&str>) -> JobEvent {
        let request = JobRequest::Remove {
            name: "a".into(),
            options: RemoveOptions::default(),
        };
        let mut job = Job::new(id, request, time::OffsetDateTime::now_utc());
        job.status = status;
        job.progress_percent = progress;
        JobEvent {
            job: Arc::new(job),
            output: output.map(Arc::from),
        }
    }

    /// The same event whose job ended with `error`.
    fn with_error(mut e: JobEvent, code: &str, message: &str) -> JobEvent {
        Arc::make_mut(&mut e.job).error = Some(JobError::new(code, message));
        e
    }

    /// The specification's payload of an event, as its frame should carry it.
    fn payload_of(e: &JobEvent) -> Value {
        serde_json::to_value(crate::api::wire::jobs::JobDetail::payload(e)).unwrap()
    }

    fn parse_frame(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn parses_both_subscribe_shapes_and_the_other_types() {
        let a = id(1);
        assert_eq!(
            parse_message(&format!(r#"{{"type":"subscribe","job_id":"{a}"}}"#)),
            Ok(ClientMessage::Subscribe(a))
        );
        assert_eq!(
            parse_message(&format!(
                r#"{{"type":"unsubscribe","payload":{{"job_id":"{a}"}}}}"#
            )),
            Ok(ClientMessage::Unsubscribe(a))
        );
        assert_eq!(
            parse_message(r#"{"type":"subscribe_all","payload":{}}"#),
            Ok(ClientMessage::SubscribeAll)
        );
        assert_eq!(parse_message(r#"{"type":"ping"}"#), Ok(ClientMessage::Ping));
    }

    #[test]
    fn names_what_is_wrong_with_a_message() {
        let cases = [
            ("garbage", "not valid JSON"),
            ("[1,2]", "string \"type\""),
            (r#"{"type":7}"#, "string \"type\""),
            (r#"{"type":"dance"}"#, "unknown message type \"dance\""),
            (r#"{"type":"subscribe"}"#, "subscribe needs a job_id"),
            (r#"{"type":"subscribe","job_id":5}"#, "must be a string"),
            (
                r#"{"type":"unsubscribe","payload":{"job_id":"nope"}}"#,
                "not a UUID: \"nope\"",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_message(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn errors_show_only_the_start_of_a_long_value() {
        let long = "x".repeat(10_000);
        let err = parse_message(&format!(r#"{{"type":"{long}"}}"#)).unwrap_err();
        assert!(err.contains(&format!("\"{}...\"", "x".repeat(64))), "{err}");
        assert!(err.len() < 200, "{} bytes", err.len());
        let err = parse_message(&format!(r#"{{"type":"subscribe","job_id":"{long}"}}"#));
        assert!(err.unwrap_err().len() < 200);
        let err = parse_message(&format!(r#"{{"type":"subscribe","job_id":[{long:?}]}}"#));
        assert!(err.unwrap_err().len() < 200);
        assert_eq!(shown("ab"), "ab");
        assert_eq!(shown(&"é".repeat(70)), format!("{}...", "é".repeat(64)));
    }

    #[test]
    fn filter_starts_open_narrows_on_subscribe_and_widens_again() {
        let (a, b, c) = (id(1), id(2), id(3));
        let mut f = Filter::default();
        assert!(f.admits(&a) && f.admits(&b));
        f.apply(&ClientMessage::Unsubscribe(c)).unwrap();
        assert!(f.admits(&a) && !f.admits(&c));
        f.apply(&ClientMessage::Subscribe(a)).unwrap();
        assert!(f.admits(&a) && !f.admits(&b));
        f.apply(&ClientMessage::Subscribe(b)).unwrap();
        assert!(f.admits(&b));
        f.apply(&ClientMessage::Unsubscribe(a)).unwrap();
        assert!(!f.admits(&a) && f.admits(&b));
        f.apply(&ClientMessage::Ping).unwrap();
        assert!(!f.admits(&a));
        f.apply(&ClientMessage::SubscribeAll).unwrap();
        assert!(f.admits(&a) && f.admits(&c));
    }

    #[test]
    fn subscriptions_and_exclusions_are_capped_per_session() {
        let ids: Vec<Uuid> = (0..=MAX_SUBSCRIPTIONS).map(|_| Uuid::new_v4()).collect();
        let mut f = Filter::default();
        for id in &ids[..MAX_SUBSCRIPTIONS] {
            f.apply(&ClientMessage::Subscribe(*id)).unwrap();
        }
        let over = ids[MAX_SUBSCRIPTIONS];
        let err = f.apply(&ClientMessage::Subscribe(over)).unwrap_err();
        assert!(err.contains("at most 1000"), "{err}");
        assert!(!f.admits(&over), "the refused id was not added");
        // Repeating a known id at the cap is no growth; freeing a place makes room.
        f.apply(&ClientMessage::Subscribe(ids[0])).unwrap();
        f.apply(&ClientMessage::Unsubscribe(ids[0])).unwrap();
        f.apply(&ClientMessage::Subscribe(over)).unwrap();
        assert!(f.admits(&over));

        let mut all = Filter::default();
        for id in &ids[..MAX_SUBSCRIPTIONS] {
            all.apply(&ClientMessage::Unsubscribe(*id)).unwrap();
        }
        let err = all.apply(&ClientMessage::Unsubscribe(over)).unwrap_err();
        assert!(err.contains("unsubscribed from"), "{err}");
        assert!(all.admits(&over));
        all.apply(&ClientMessage::SubscribeAll).unwrap();
        assert_eq!(all, Filter::default());
    }

    #[test]
    fn status_frames_copy_the_payload_fields_to_the_top() {
        let a = id(1);
        let running = event(a, JobStatus::Running, 40, Some("x"));
        let v = parse_frame(&render_event(&running, SPEC));
        assert_eq!(v["type"], "job_status");
        assert_eq!(v["payload"], payload_of(&running));
        assert_eq!(v["payload"]["job_id"], a.to_string());
        assert_eq!(v["payload"]["status"], "running");
        assert_eq!(v["payload"]["output"], "x");
        assert_eq!(v["job_id"], a.to_string());
        assert_eq!(v["status"], "running");
        assert_eq!(v["progress_percent"], 40);
        assert!(v.get("output").is_none(), "only completion copies output");
    }

    #[test]
    fn completion_frames_add_error_and_output() {
        let a = id(1);
        let failed = with_error(
            event(a, JobStatus::Failed, 100, Some("log")),
            "PKG_NOT_FOUND",
            "PKG_NOT_FOUND: nope",
        );
        let v = parse_frame(&render_event(&failed, SPEC));
        assert_eq!(v["type"], "job_complete");
        assert_eq!(v["status"], "failed");
        assert_eq!(v["progress_percent"], 100);
        assert_eq!(v["error"], "PKG_NOT_FOUND: nope");
        assert_eq!(v["output"], "log");
        assert_eq!(v["payload"], payload_of(&failed));
        assert_eq!(v["payload"]["error_code"], "PKG_NOT_FOUND");
        let ok = event(a, JobStatus::Completed, 100, None);
        let v = parse_frame(&render_event(&ok, SPEC));
        assert!(v.get("error").is_none() && v.get("output").is_none(), "{v}");
        let ok = event(a, JobStatus::Completed, 100, Some(""));
        let v = parse_frame(&render_event(&ok, SPEC));
        assert_eq!(v["output"], "", "an empty log is still the output");
    }

    #[test]
    fn the_manager_sees_a_timeout_as_failed_at_the_top_and_the_payload_keeps_it() {
        let a = id(1);
        let timeout = with_error(
            event(a, JobStatus::Timeout, 60, Some("log")),
            "JOB_TIMEOUT",
            "too slow",
        );
        let v = parse_frame(&render_event(&timeout, ClientShape::PatchManager));
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error_code"], "JOB_TIMEOUT");
        assert_eq!(v["error"], "too slow");
        assert_eq!(v["payload"]["status"], "timeout");
        assert_eq!(
            v["payload"],
            payload_of(&timeout),
            "the payload stays in the specification's shape"
        );
        let v = parse_frame(&render_event(&timeout, SPEC));
        assert_eq!(v["status"], "timeout");
        assert!(v.get("error_code").is_none(), "{v}");

        let hub = Events::new();
        let mut s = JobStream::new(hub.subscribe(EVENT_BUFFER), ClientShape::PatchManager);
        hub.publish(&timeout);
        let Outgoing::Frame(f) = s.poll_outgoing() else {
            panic!("the timeout event expected");
        };
        assert_eq!(parse_frame(&f)["status"], "failed");
    }

    #[test]
    fn fixed_frames_are_written_as_before() {
        assert_eq!(pong_frame(), r#"{"payload":{},"type":"pong"}"#);
        assert_eq!(
            error_frame("say \"what\""),
            r#"{"payload":{"code":"INVALID_REQUEST","message":"say \"what\""},"type":"error"}"#
        );
        let v = parse_frame(UNRENDERABLE);
        assert_eq!(
            (v["type"].as_str(), v["payload"]["code"].as_str()),
            (Some("error"), Some("INTERNAL_ERROR"))
        );
    }

    #[test]
    fn handler_answers_ping_and_errors_and_filters_events() {
        let hub = Events::new();
        let mut s = JobStream::new(hub.subscribe(EVENT_BUFFER), SPEC);
        assert_eq!(
            parse_frame(&s.on_text(r#"{"type":"ping"}"#)[0])["type"],
            "pong"
        );
        let err = parse_frame(&s.on_text("{")[0]);
        assert_eq!(err["type"], "error");
        assert_eq!(err["payload"]["code"], "INVALID_REQUEST");
        assert_eq!(s.poll_outgoing(), Outgoing::Idle);
        let (a, b) = (id(1), id(2));
        hub.publish(&event(b, JobStatus::Running, 1, None));
        let Outgoing::Frame(f) = s.poll_outgoing() else {
            panic!("no frame before any subscription");
        };
        assert_eq!(parse_frame(&f)["job_id"], b.to_string());
        let sub = format!(r#"{{"type":"subscribe","job_id":"{a}"}}"#);
        assert!(s.on_text(&sub).is_empty(), "subscribe is not acknowledged");
        hub.publish(&event(b, JobStatus::Running, 2, None));
        hub.publish(&event(a, JobStatus::Running, 3, None));
        let Outgoing::Frame(f) = s.poll_outgoing() else {
            panic!("a's event expected");
        };
        assert_eq!(parse_frame(&f)["job_id"], a.to_string());
        assert_eq!(s.poll_outgoing(), Outgoing::Idle);
    }

    #[test]
    fn an_overflowed_subscription_reports_dropped_after_its_backlog() {
        let hub = Events::new();
        let mut s = JobStream::new(hub.subscribe(2), SPEC);
        for n in 0..3 {
            hub.publish(&event(id(1), JobStatus::Running, n, None));
        }
        assert!(matches!(s.poll_outgoing(), Outgoing::Frame(_)));
        assert!(matches!(s.poll_outgoing(), Outgoing::Frame(_)));
        let Outgoing::Dropped(reason) = s.poll_outgoing() else {
            panic!("expected the overflow");
        };
        assert!(reason.contains("overflowed"), "{reason}");
    }

    #[test]
    fn a_plain_get_is_told_to_upgrade() {
        let e = plain_request().unwrap_err();
        assert_eq!(e.code(), "INVALID_REQUEST");
        assert!(e.message().contains("Upgrade: websocket"));
    }
}
