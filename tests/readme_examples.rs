//! Runs every curl example of the README's "Administration with curl" section, in order,
//! against the real agent in the test sandbox (apt with the fixture repositories), so the
//! documentation cannot drift from the code. Each command must answer the HTTP status its
//! `#=>` comment names. Needs root, curl and jq (CI installs them).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::jobs::*;
use common::sandbox::Sandbox;
use common::*;

/// Real package names in the README and the fixture packages that stand in for them.
const NAMES: [(&str, &str); 6] = [
    ("3.0.15-1~deb12u1", "1.1-1"),
    ("libssl3", "lpa-lib"),
    ("openssl", "lpa-hello"),
    ("open*", "lpa-*"),
    ("nginx", "lpa-tool"),
    ("linux-image-*", "lpa-lib*"),
];

/// Stand-ins for OpenRC's tools: `ssh` is a started service, enabled in the default runlevel.
const RC_SERVICE: &str = "#!/bin/sh\nif [ \"$1\" = ssh ]; then echo ' * status: started'; else echo \" * rc-service: service \\`$1' does not exist\"; exit 1; fi\n";
const RC_UPDATE: &str = "#!/bin/sh\necho '                  ssh | default'\n";
const FAKE_REBOOT: &str = "#!/bin/sh\necho \"$*\" >> /var/tmp/reboots\n";

/// One logical command of the section: its text and the status its `#=>` comment names.
#[derive(Debug)]
struct Example {
    command: String,
    expect: Option<u16>,
}

/// The `sh` blocks of the README section, as logical commands (`\` continuations joined).
fn examples(readme: &str) -> Vec<Example> {
    let start = readme
        .find("## Administration with curl")
        .expect("the README has the curl section");
    let rest = &readme[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in section.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let command = std::mem::take(&mut pending);
        let expect = command
            .split("#=>")
            .nth(1)
            .map(|s| s.trim().parse().expect("a status after #=>"));
        out.push(Example { command, expect });
    }
    out
}

fn mapped(command: &str) -> String {
    NAMES
        .iter()
        .fold(command.to_string(), |c, (real, fixture)| {
            c.replace(real, fixture)
        })
}

#[test]
fn every_curl_example_of_the_readme_answers_as_documented() {
    require_sandbox!();
    let _one = serial();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let all = examples(&readme);
    let annotated = all.iter().filter(|e| e.expect.is_some()).count();
    assert!(annotated >= 20, "only {annotated} curl examples found");
    for e in &all {
        assert_eq!(
            e.command.contains("curl "),
            e.expect.is_some(),
            "every curl example, and only those, names its status: {}",
            e.command
        );
    }

    let env = Env::new("readme");
    let mut sb = Sandbox::new("readme");
    sb.with_deb_repos();
    sb.write_executable("/usr/sbin/rc-service", RC_SERVICE);
    sb.write_executable("/usr/sbin/rc-update", RC_UPDATE);
    sb.write_executable("/usr/local/sbin/fake-reboot", FAKE_REBOOT);
    let agent = sb.start_agent(
        &env,
        &agent_config(
            &APT,
            "system:\n  reboot_command: [/usr/local/sbin/fake-reboot]\n",
        ),
    );
    install_old(&APT, &agent, &env);

    let (cert, key) = env.client.write(env.dir.path(), "admin");
    let mut script = String::from("set -u\n");
    script.push_str(
        "curl() { command curl --max-time 60 -sS -w \"%{stderr}::$LPA_CMD %{http_code}\\n\" \"$@\"; }\n",
    );
    for (i, e) in all.iter().enumerate() {
        script.push_str(&format!("LPA_CMD={i}\n{}\n", mapped(&e.command)));
        // Right after the README sets its variables, point them at the sandboxed agent.
        if e.command.trim_start().starts_with("C=") {
            script.push_str(&format!(
                "A=https://127.0.0.1:{}\nC=\"--cacert {} --cert {} --key {} -H Content-Type:application/json\"\n",
                agent.addr.port(),
                env.ca_path.display(),
                cert.display(),
                key.display()
            ));
        }
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut answered: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("::") {
            let (i, status) = rest.split_once(' ').unwrap();
            answered
                .entry(i.parse().unwrap())
                .or_default()
                .push(status.parse().unwrap());
        }
    }
    for (i, e) in all.iter().enumerate() {
        let Some(expect) = e.expect else { continue };
        let got = answered.get(&i).cloned().unwrap_or_default();
        assert!(
            !got.is_empty() && got.iter().all(|s| *s == expect),
            "README example answered {got:?}, documented {expect}:\n  {}\nstderr:\n{stderr}\nagent log:\n{}",
            e.command,
            agent.log_text()
        );
    }
    assert!(out.status.success(), "the examples' shell failed: {stderr}");
    // The reboot example was cancelled before its delay: the command never ran.
    assert!(!sb.root().join("var/tmp/reboots").exists());
}

#[test]
fn the_example_parser_joins_continuations_and_reads_statuses() {
    let text = "## Administration with curl\n```sh\nA=x\ncurl -s $C \\\n   -d '{}' $A #=> 202\n```\n```text\ncurl nope\n```\n## Next\n```sh\ncurl later #=> 200\n```\n";
    let e = examples(text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].expect, None);
    assert_eq!(e[1].expect, Some(202));
    assert!(e[1].command.contains("-d '{}'"));
    assert_eq!(
        mapped("curl $A/api/v1/packages/openssl"),
        "curl $A/api/v1/packages/lpa-hello"
    );
}
