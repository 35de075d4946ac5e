//! The envelope every answer is wrapped in and its error object, plus the fields every
//! `202 Accepted` job answer starts from.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::jobs::Job;
use crate::timefmt::rfc3339;

/// `{"data", "error", "request_id", "success", "timestamp"}`; `data` and `error` exclusive.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// The handler's payload, already serialised; null on error.
    pub data: Option<&'a RawValue>,
    /// The error object; null on success.
    pub error: Option<ErrorBody>,
    /// The request id (UUID v4), also sent as `X-Request-Id`.
    pub request_id: &'a str,
    /// True on 2xx.
    pub success: bool,
    /// When the answer was made (RFC 3339, UTC).
    pub timestamp: &'a str,
}

/// `{"code", "details", "message", "retryable"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorBody {
    /// The machine-readable code, e.g. `INVALID_REQUEST`.
    pub code: &'static str,
    /// Structured facts (always an object, possibly empty): their keys depend on the error.
    pub details: Map<String, Value>,
    /// The human-readable message.
    pub message: String,
    /// Whether retrying later may succeed.
    pub retryable: bool,
}

/// The fields of a new job that every `202 Accepted` answer carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// When the job was created (RFC 3339).
    pub created_at: String,
    /// The job's id.
    pub job_id: String,
    /// `install`, `update`, `remove`, `patch_apply`, `reboot`, `rollback`.
    pub operation: &'static str,
    /// Its status when answered (`pending`, or further along for a returned reboot).
    pub status: &'static str,
}

impl NewJob {
    /// The fields of `job`.
    pub fn of(job: &Job) -> NewJob {
        NewJob {
            created_at: rfc3339(job.created_at),
            job_id: job.id.to_string(),
            operation: job.operation.as_str(),
            status: job.status.as_str(),
        }
    }
}

/// Serialises `value` and checks that its keys come out sorted at every level, as the
/// `Value` maps wrote them: the unit tests of every wire struct call this.
#[cfg(test)]
pub fn assert_sorted_bytes<T: Serialize>(value: &T) -> Value {
    let typed = serde_json::to_string(value).expect("serialises");
    let tree: Value = serde_json::from_str(&typed).expect("parses");
    assert_eq!(
        typed,
        tree.to_string(),
        "fields out of alphabetical order (the bytes would change)"
    );
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_fields_are_in_wire_order() {
        let data = serde_json::value::to_raw_value(&serde_json::json!({"a": 1})).unwrap();
        let ok = Envelope {
            data: Some(&data),
            error: None,
            request_id: "id",
            success: true,
            timestamp: "t",
        };
        let v = assert_sorted_bytes(&ok);
        assert_eq!(v["data"]["a"], 1);
        assert!(v["error"].is_null());
        let failed = Envelope {
            data: None,
            error: Some(ErrorBody {
                code: "X",
                details: Map::new(),
                message: "m".into(),
                retryable: false,
            }),
            request_id: "id",
            success: false,
            timestamp: "t",
        };
        let v = assert_sorted_bytes(&failed);
        assert!(v["data"].is_null());
        assert_eq!(v["error"]["code"], "X");
    }

    #[test]
    fn the_checker_catches_an_unsorted_struct() {
        #[derive(Serialize)]
        struct Unsorted {
            b: u8,
            a: u8,
        }
        let caught = std::panic::catch_unwind(|| assert_sorted_bytes(&Unsorted { b: 1, a: 2 }));
        assert!(caught.is_err());
    }
}
