//! The agent's own limit on open files, fitted at start to what its connections need.
//!
//! Package tools inherit the agent's soft limit. zypper and rpm close every descriptor up
//! to it before each process they start: under a soft limit of 20,000 one `zypper install`
//! made 120,000 `close` calls (9 ms of 70), and containers often give 1,048,576. The runner
//! can give a tool a lower limit itself, but only between fork and exec, which costs a
//! full fork of the agent (0.7-0.9 ms a command, measured) where posix_spawn's vfork costs
//! a tenth of that. So the binary sets its own soft limit to what it needs, at least the
//! tools' default, and the tools inherit that without a fork.

/// The soft limit package tools should run with: what a login shell and a systemd service
/// get by default.
pub const FOR_TOOLS: u64 = 1024;

/// Descriptors the agent needs beside its connections: a job's pipes and pidfd, records
/// being written, the audit log, feed downloads, the listener.
const RESERVE: u64 = 256;

/// The soft limit before and after [`fit`], and the hard limit it stays within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fitted {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit it runs with now.
    pub after: u64,
    /// The hard limit (`u64::MAX` for unlimited), left as it is.
    pub hard: u64,
    /// What `connections` connections need, which may exceed `hard`.
    pub needed: u64,
}

/// The soft limit for an agent serving at most `connections` connections: enough for them
/// and [`RESERVE`], at least [`FOR_TOOLS`], never above `hard`.
pub fn wanted(connections: usize, hard: u64) -> u64 {
    needed(connections).max(FOR_TOOLS).min(hard)
}

fn needed(connections: usize) -> u64 {
    u64::try_from(connections)
        .unwrap_or(u64::MAX)
        .saturating_add(RESERVE)
}

/// The process's soft and hard limits on open files.
pub fn current() -> std::io::Result<(u64, u64)> {
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives on our stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((now.rlim_cur, now.rlim_max))
}

/// The limit to give a package tool between fork and exec when the process's soft limit
/// is above [`FOR_TOOLS`] (only when the agent needs more, since the binary [`fit`]s its
/// own at start); the hard limit kept. `None`: the tool inherits the process's limit, and
/// std can start it with posix_spawn, no fork.
pub fn for_tools() -> Option<libc::rlimit> {
    let (soft, hard) = current().ok()?;
    (soft > FOR_TOOLS).then_some(libc::rlimit {
        rlim_cur: FOR_TOOLS,
        rlim_max: hard,
    })
}

/// Sets the process's soft limit to [`wanted`] for `connections`, lowering or raising it
/// within the hard limit. Meant for the binary's start, before any thread opens files.
pub fn fit(connections: usize) -> std::io::Result<Fitted> {
    let (before, hard) = current()?;
    let after = wanted(connections, hard);
    if after != before {
        let limit = libc::rlimit {
            rlim_cur: after,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct it is given, which lives on our stack.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(Fitted {
        before,
        after,
        hard,
        needed: needed(connections),
    })
}

impl Fitted {
    /// Whether the connections need more descriptors than the hard limit allows.
    pub fn short(&self) -> bool {
        self.needed > self.after
    }

    /// One line for the log: what changed and why, or `None` when nothing did and
    /// nothing is short.
    pub fn describe(&self) -> Option<String> {
        if self.short() {
            return Some(format!(
                "open files: {} connections need {} descriptors but the hard limit is {}; \
                 connections beyond it will be refused",
                self.needed.saturating_sub(RESERVE),
                self.needed,
                self.hard
            ));
        }
        (self.after != self.before).then(|| {
            format!(
                "open files: soft limit {} -> {} (enough for the connections; package tools \
                 inherit it)",
                self.before, self.after
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connections_get_the_tools_default() {
        // 256 connections and the reserve fit in 1024: a container's 1,048,576 comes down.
        assert_eq!(wanted(256, u64::MAX), FOR_TOOLS);
        assert_eq!(wanted(1, 4096), FOR_TOOLS);
    }

    #[test]
    fn many_connections_get_what_they_need_within_the_hard_limit() {
        assert_eq!(wanted(4000, u64::MAX), 4000 + RESERVE);
        assert_eq!(wanted(4000, 2048), 2048);
        // A hard limit below the tools' default is the ceiling.
        assert_eq!(wanted(10, 512), 512);
        assert_eq!(wanted(usize::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn the_description_says_what_changed_or_what_is_short() {
        let f = |before, after, hard, needed| Fitted {
            before,
            after,
            hard,
            needed,
        };
        assert_eq!(f(1024, 1024, 4096, 512).describe(), None);
        let lowered = f(20000, 1024, 20000, 512).describe().unwrap();
        assert!(lowered.contains("20000 -> 1024"), "{lowered}");
        let short = f(1024, 2048, 2048, 4256).describe().unwrap();
        assert!(short.contains("4000 connections need 4256"), "{short}");
        assert!(short.contains("hard limit is 2048"), "{short}");
    }

    #[test]
    fn the_current_limits_read_back_as_the_kernel_reports_them() {
        let (soft, hard) = current().unwrap();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[3], soft.to_string());
        let hard_text = if hard == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            hard.to_string()
        };
        assert_eq!(fields[4], hard_text);
    }
}
