//! What a caught panic said: the release profile unwinds (issue 17), and the request, the
//! WebSocket session and the job workers catch a panic at their boundary and log it.

use std::any::Any;

/// The panic's message (`panic!` with a literal or a formatted string), else a placeholder.
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        return (*s).to_string();
    }
    if let Some(s) = payload.downcast_ref::<String>() {
        return s.clone();
    }
    "a panic without a message".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;

    #[test]
    fn the_message_is_read_from_either_payload() {
        let lit = catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(message(&*lit), "plain");
        let n = 7;
        let formatted = catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(message(&*formatted), "formatted 7");
        let other = catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(message(&*other), "a panic without a message");
    }
}
