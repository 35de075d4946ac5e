//! What /proc says about a process: resident memory, threads, CPU time; and the machine.

use std::path::Path;

/// A `Key:   value kB` field of /proc/PID/status, in KiB (or a plain count for Threads).
pub fn status_field(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Resident set size in MiB (VmRSS).
pub fn rss_mib(pid: u32) -> Option<f64> {
    status_field(pid, "VmRSS").map(|kib| kib as f64 / 1024.0)
}

/// Peak resident set size in MiB (VmHWM).
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    status_field(pid, "VmHWM").map(|kib| kib as f64 / 1024.0)
}

/// Number of threads.
pub fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads")
}

/// The fields of /proc/PID/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = text.rfind(')')?;
    Some(
        text[close + 1..]
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// utime + stime in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // Fields 14 and 15 of stat; index 0 here is field 3.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Direct children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|&p| {
            stat_fields(p)
                .and_then(|f| f.get(1)?.parse::<u32>().ok())
                .is_some_and(|ppid| ppid == pid)
        })
        .collect()
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

/// The machine: CPU model, cores, memory, kernel.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default();
    serde_json::json!({
        "cpu_model": model,
        "cores": cores,
        "memory_mib": mem_kib / 1024,
        "kernel": kernel,
        "os": os,
    })
}

/// A file's size in MiB, and whether it still has a symbol table (i.e. is not stripped).
pub fn binary_size(path: &Path) -> Option<(f64, bool)> {
    let bytes = std::fs::read(path).ok()?;
    let size = bytes.len() as f64 / (1024.0 * 1024.0);
    Some((size, has_symtab(&bytes)))
}

/// Whether a 64-bit little-endian ELF file has a SHT_SYMTAB section.
fn has_symtab(elf: &[u8]) -> bool {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if elf.get(..4) != Some(b"\x7fELF") {
        return false;
    }
    let (Some(shoff), Some(shentsize), Some(shnum)) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c))
    else {
        return false;
    };
    (0..shnum as usize).any(|i| {
        let base = shoff as usize + i * shentsize as usize;
        u32_at(base + 4) == Some(2)
    })
}
