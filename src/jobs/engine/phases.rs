//! Where a job's time went, phase by phase, for the debug log: what profiling a job
//! against the package tool needs (docs/BENCHMARKS.md), without a profiler on the host.

use std::fmt::Write as _;
use std::time::Instant;

/// Marks taken as a job moves from one phase to the next.
pub(super) struct Phases {
    last: Instant,
    done: Vec<(&'static str, u128)>,
}

impl Phases {
    /// Starts timing now.
    pub(super) fn start() -> Phases {
        Phases {
            last: Instant::now(),
            done: Vec::with_capacity(8),
        }
    }

    /// Ends the phase called `name` now; the next one starts.
    pub(super) fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done
            .push((name, now.duration_since(self.last).as_micros()));
        self.last = now;
    }

    /// `checks 0.4 ms, before 1.2 ms, ...`: each phase's time, in order.
    pub(super) fn summary(&self) -> String {
        let mut s = String::new();
        for (i, (name, us)) in self.done.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(s, "{sep}{name} {}.{} ms", us / 1000, us % 1000 / 100);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_listed_in_order_with_their_times() {
        let outer = Instant::now();
        let mut p = Phases::start();
        std::thread::sleep(std::time::Duration::from_millis(2));
        p.mark("first");
        p.mark("second");
        let total_ms = outer.elapsed().as_secs_f64() * 1000.0;
        let s = p.summary();
        let (first, second) = s.split_once(", ").unwrap();
        let ms = |part: &str, name: &str| -> f64 {
            let rest = part.strip_prefix(name).unwrap().trim();
            rest.strip_suffix(" ms").unwrap().parse().unwrap()
        };
        // The first phase holds the sleep. Each phase is its own stretch of time, not the
        // time since the start: together they fit in the time around them (a second phase
        // counted from the start would also hold the sleep and overflow it).
        assert!(ms(first, "first ") >= 2.0, "{s}");
        assert!(
            ms(first, "first ") + ms(second, "second ") <= total_ms,
            "{s} in {total_ms} ms"
        );
        assert_eq!(Phases::start().summary(), "");
    }
}
