//! Peak memory of reading a large `updateinfo.xml` (issue 15: at most 64 MiB for a
//! generated 30 MB file; docs/BENCHMARKS.md records the figure).
//!
//! `cargo bench --bench updateinfo_memory -- [--mb N] [--file PATH] [--keep all|none]`
//! generates a realistic file (Fedora-shaped updates: several references, a pkglist of
//! packages with filename and sha256, long descriptions with entities) unless `--file`
//! names one, then streams it through the agent's parser in a fresh process and prints
//! the peak resident set (`VmHWM` of /proc/self/status) before and after. `--keep all`
//! (default) keeps every notice, the worst case; the agent keeps only the ones dnf lists.
//! Without `--bench` (as `cargo test --all-targets` in `make test` runs it) or with
//! `--self-check` it only generates a 1 MiB file and checks that the parser reads back
//! exactly what was written: no memory figure, no threshold in `make test`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use linux_patch_api::pkg::rpm::updateinfo::parse_reader;

/// The bound on the peak resident set.
const LIMIT_KIB: u64 = 64 * 1024;

struct Options {
    mb: u64,
    file: Option<PathBuf>,
    keep_all: bool,
    self_check: bool,
    bench: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        mb: 30,
        file: None,
        keep_all: true,
        self_check: false,
        bench: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => o.mb = args.next().and_then(|v| v.parse().ok()).ok_or("--mb N")?,
            "--file" => o.file = Some(args.next().ok_or("--file PATH")?.into()),
            "--keep" => o.keep_all = args.next().as_deref() == Some("all"),
            "--self-check" => o.self_check = true,
            // Set by `cargo bench`; without it (`cargo test --all-targets`, i.e. `make
            // test`) only the self-check runs.
            "--bench" => o.bench = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// A small deterministic generator (no randomness crate; the same file every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const WORDS: [&str; 16] = [
    "a", "flaw", "was", "found", "in", "the", "handling", "of", "crafted", "input", "which",
    "could", "allow", "an", "attacker", "&amp;",
];

/// Writes updates until the file reaches `bytes`; returns (updates, packages) written.
fn generate(path: &Path, bytes: u64) -> std::io::Result<(usize, usize)> {
    let mut w = BufWriter::new(File::create(path)?);
    let mut rng = Lcg(15);
    let mut written = 0u64;
    let (mut updates, mut packages) = (0usize, 0usize);
    let put = |w: &mut BufWriter<File>, s: &str| -> std::io::Result<u64> {
        w.write_all(s.as_bytes())?;
        Ok(s.len() as u64)
    };
    written += put(
        &mut w,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n",
    )?;
    while written < bytes {
        let id = format!("FEDORA-2026-{:010x}", rng.next(1 << 40));
        let sev = ["None", "Low", "Moderate", "Important", "Critical"][rng.next(5) as usize];
        let mut u = format!(
            "  <update from=\"updates@fedoraproject.org\" status=\"stable\" type=\"security\" version=\"2.0\">\n    <id>{id}</id>\n    <title>pkg{n}-1.{n}-1.fc40</title>\n    <issued date=\"2026-0{m}-1{d} 0{h}:1{d}:2{d}\"/>\n    <updated date=\"2026-0{m}-1{d} 0{h}:1{d}:2{d}\"/>\n    <severity>{sev}</severity>\n    <summary>pkg{n}-1.{n}-1.fc40 security update</summary>\n    <description>",
            n = updates,
            m = 1 + rng.next(9),
            d = rng.next(10),
            h = rng.next(10),
        );
        for _ in 0..(40 + rng.next(200)) {
            u.push_str(WORDS[rng.next(WORDS.len() as u64) as usize]);
            u.push(' ');
        }
        u.push_str("&lt;https://bugzilla.redhat.com&gt;</description>\n    <references>\n");
        for _ in 0..(1 + rng.next(6)) {
            let year = 2020 + rng.next(7);
            let num = 1000 + rng.next(60000);
            u.push_str(&format!("      <reference href=\"https://bugzilla.redhat.com/show_bug.cgi?id={num}\" id=\"{num}\" type=\"bugzilla\" title=\"CVE-{year}-{num} pkg: a flaw\"/>\n      <reference href=\"https://www.cve.org/CVERecord?id=CVE-{year}-{num}\" id=\"CVE-{year}-{num}\" type=\"cve\"/>\n"));
        }
        u.push_str("    </references>\n    <pkglist>\n      <collection short=\"F40\">\n        <name>Fedora 40</name>\n");
        for p in 0..(2 + rng.next(30)) {
            let arch = ["x86_64", "aarch64", "noarch", "i686"][rng.next(4) as usize];
            let name = format!("pkg{updates}-sub{p}");
            let sum: String = (0..8)
                .map(|_| format!("{:08x}", rng.next(1 << 32)))
                .collect();
            u.push_str(&format!("        <package name=\"{name}\" version=\"1.{updates}\" release=\"1.fc40\" epoch=\"{e}\" arch=\"{arch}\" src=\"pkg{updates}-1.{updates}-1.fc40.src.rpm\">\n          <filename>{name}-1.{updates}-1.fc40.{arch}.rpm</filename>\n          <sum type=\"sha256\">{sum}</sum>\n", e = rng.next(3)));
            if rng.next(20) == 0 {
                u.push_str("          <reboot_suggested>True</reboot_suggested>\n");
            }
            u.push_str("        </package>\n");
            packages += 1;
        }
        u.push_str("      </collection>\n    </pkglist>\n  </update>\n");
        written += put(&mut w, &u)?;
        updates += 1;
    }
    put(&mut w, "</updates>\n")?;
    w.flush()?;
    Ok((updates, packages))
}

/// `VmHWM` (peak resident set) of this process, KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn self_check() -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("lpa-ui-gen-{}.xml", std::process::id()));
    let (updates, packages) = generate(&path, 1 << 20).map_err(|e| e.to_string())?;
    let file = File::open(&path).map_err(|e| e.to_string())?;
    let mut got = (0usize, 0usize);
    let report = parse_reader(BufReader::new(file), "generated", |n| {
        got.0 += 1;
        got.1 += n.packages.len();
    })
    .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path);
    if got != (updates, packages) || report.skipped != 0 {
        return Err(format!(
            "wrote {updates} updates / {packages} packages, read {got:?}, skipped {}",
            report.skipped
        ));
    }
    println!("self-check: {updates} updates, {packages} packages written and read back");
    Ok(())
}

fn run(o: &Options) -> Result<bool, String> {
    let path = match &o.file {
        Some(p) => p.clone(),
        None => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let p = dir.join(format!("updateinfo-{}mb.xml", o.mb));
            let (u, n) = generate(&p, o.mb << 20).map_err(|e| e.to_string())?;
            println!("generated {}: {u} updates, {n} packages", p.display());
            p
        }
    };
    let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
    let before = peak_kib();
    let file = File::open(&path).map_err(|e| e.to_string())?;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let report = parse_reader(BufReader::new(file), "generated", |n| {
        seen += 1;
        if o.keep_all {
            kept.push(n);
        }
    })
    .map_err(|e| e.to_string())?;
    let after = peak_kib();
    println!(
        "file {:.1} MiB, {seen} notices ({} kept), {} skipped; peak RSS before parsing {before} KiB, after {after} KiB ({:.1} MiB, limit 64 MiB)",
        size as f64 / 1048576.0,
        kept.len(),
        report.skipped,
        after as f64 / 1024.0
    );
    Ok(after <= LIMIT_KIB)
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("updateinfo_memory: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = if o.self_check || !o.bench {
        self_check().map(|()| true)
    } else {
        run(&o)
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("updateinfo_memory: peak RSS above 64 MiB");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("updateinfo_memory: {e}");
            ExitCode::from(2)
        }
    }
}
