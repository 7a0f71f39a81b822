//! The dashboard in real headless Chromium against a real endpoint fed with
//! a TEST DATA batch: the values the page renders (after its JavaScript
//! fetched /api/snapshot) must equal the endpoint's own snapshot, and a
//! screenshot is kept under target/tmp/endpoint-artifacts/.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpulse::endpoint::{Endpoint, EndpointConfig};
use netpulse::record::{SocketRecord, TcpState, count_states};
use netpulse_testkit::endpoint::*;

/// Run Chromium headless with the flags the brief asks for and a fresh
/// profile; kill it if it hangs.
fn chromium(profile: &std::path::Path, extra: &[&str], url: &str) -> Vec<u8> {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1440,1300",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium not found: install the Debian package `chromium` (.ci/setup.d/60-endpoint.sh)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// Text of the serialized DOM with the entities Chromium writes undone.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The text of `<td ... data-field="field">TEXT</td>` within `row`.
fn cell(row: &str, field: &str) -> Option<String> {
    let at = row.find(&format!("data-field=\"{field}\""))?;
    let rest = &row[at..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find("</td>")?;
    Some(unescape(&rest[open..open + close]))
}

/// The `<tr data-key="KEY">...</tr>` inside the table with id `table`.
fn row<'a>(dom: &'a str, table: &str, key: &str) -> Option<&'a str> {
    let t = dom.find(&format!("id=\"{table}\""))?;
    let t_end = t + dom[t..].find("</table>")?;
    let body = &dom[t..t_end];
    let escaped_key = key.replace('&', "&amp;").replace('"', "&quot;");
    let at = body.find(&format!("data-key=\"{escaped_key}\""))?;
    let end = body[at..].find("</tr>")?;
    Some(&body[at..at + end])
}

// The page's number formats, reproduced in integer arithmetic.
fn ms(us: &serde_json::Value) -> String {
    match us.as_u64() {
        Some(us) => {
            let h = (us + 5) / 10;
            format!("{}.{:02}", h / 100, h % 100)
        }
        None => "—".into(),
    }
}

fn kib(b: &serde_json::Value) -> String {
    match b.as_u64() {
        Some(b) => {
            let t = (b * 10 + 512) / 1024;
            format!("{}.{}", t / 10, t % 10)
        }
        None => "—".into(),
    }
}

fn int(v: &serde_json::Value) -> String {
    v.as_u64().map_or("—".into(), |n| n.to_string())
}

fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn process(s: &serde_json::Value) -> String {
    match (s["command"].as_str(), s["pid"].as_u64()) {
        (Some(c), Some(p)) => format!("{c} ({p})"),
        (Some(c), None) => c.to_string(),
        _ => "—".into(),
    }
}

/// A TEST DATA listener with the given accept queue and backlog.
fn listener(ts: u64, port: u16, queue: u32, backlog: u32, command: &str) -> SocketRecord {
    let mut r = SocketRecord::new(
        ts,
        format!("127.0.3.1:{port}").parse().unwrap(),
        "0.0.0.0:0".parse().unwrap(),
        TcpState::Listen,
    );
    r.set().accept_queue(Some(queue));
    r.set().accept_backlog(Some(backlog));
    r.set().command(Some(command.into()));
    r.set().pid(Some(u32::from(port)));
    r
}

/// Test data stamped "now", so the page shows it as live, not stale, with
/// three listeners: one past its backlog, one 82 % full, one exactly 80 %
/// full (not over, so not listed).
fn fresh_batch() -> netpulse::record::Batch {
    let mut batch = test_batch_with_known(42, 2000);
    let ts = batch.ts;
    batch.sockets.extend([
        listener(ts, 7002, 8, 10, "at-80"),
        listener(ts, 7001, 41, 50, "busy"),
        listener(ts, 7000, 5, 4, "overflowing"),
    ]);
    if let Some(s) = batch.system.as_mut() {
        s.total_sockets = batch.sockets.len() as u64;
        s.state_counts = count_states(batch.sockets.iter().map(|s| s.state));
    }
    let now = netpulse::record::now_ns();
    batch.ts = now;
    if let Some(s) = batch.system.as_mut() {
        s.ts = now;
    }
    batch.sockets.iter_mut().for_each(|s| s.ts = now);
    batch
}

#[test]
fn dashboard_renders_the_snapshot_in_chromium() {
    let rt = runtime();
    let _g = rt.enter();
    let cfg = EndpointConfig {
        http_listen: format!("{TEST_IP}:0"),
        ..EndpointConfig::default()
    };
    let ep = Endpoint::spawn(&cfg).unwrap();
    let addr = ep.http_addr().unwrap();
    ep.hub().publish(Arc::new(fresh_batch()));

    let snap: serde_json::Value =
        serde_json::from_slice(&http_get(addr, "/api/snapshot?sockets=0&top=10").body).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/");
    let dom = String::from_utf8(chromium(
        profile.path(),
        &["--virtual-time-budget=8000", "--dump-dom"],
        &url,
    ))
    .unwrap();
    assert!(
        dom.contains(&format!("data-generation=\"{}\"", snap["generation"])),
        "the page never rendered a snapshot:\n{}",
        &dom[..dom.len().min(2000)]
    );

    // Headline numbers and the state distribution.
    let total = snap["summary"]["sockets"].as_u64().unwrap();
    assert!(dom.contains(&format!("id=\"k-total\">{}<", grouped(total))));
    let names = snap["summary"]["state_names"].as_array().unwrap();
    let counts = snap["summary"]["state_counts"].as_array().unwrap();
    for (name, n) in names.iter().zip(counts) {
        let name = name.as_str().unwrap();
        let at = dom
            .find(&format!("data-state=\"{name}\""))
            .unwrap_or_else(|| panic!("state {name} not drawn"));
        let n_at = at + dom[at..].find("class=\"n\">").unwrap() + "class=\"n\">".len();
        let shown = &dom[n_at..n_at + dom[n_at..].find('<').unwrap()];
        assert_eq!(shown, grouped(n.as_u64().unwrap()), "state {name}");
    }
    // RTT histogram: one column per bucket, counts as in the snapshot.
    let buckets = snap["summary"]["rtt_us"]["counts"].as_array().unwrap();
    assert_eq!(
        dom.matches("class=\"col\" data-bucket=").count(),
        buckets.len()
    );

    // Every row of both top tables, cell by cell.
    let mut checked = 0;
    for s in snap["top_rexmit"].as_array().unwrap() {
        let key = format!(
            "{} {}",
            s["local"].as_str().unwrap(),
            s["remote"].as_str().unwrap()
        );
        let r = row(&dom, "top-rexmit", &key).unwrap_or_else(|| panic!("row {key} missing"));
        assert_eq!(cell(r, "state").as_deref(), s["state"].as_str());
        assert_eq!(
            cell(r, "rexmit_delta").unwrap(),
            int(&s["rexmit_delta"]),
            "{key}"
        );
        assert_eq!(cell(r, "rexmit").unwrap(), int(&s["rexmit"]), "{key}");
        assert_eq!(cell(r, "rtt_us").unwrap(), ms(&s["rtt_us"]), "{key}");
        assert_eq!(cell(r, "cwnd").unwrap(), kib(&s["cwnd"]), "{key}");
        assert_eq!(cell(r, "process").unwrap(), process(s), "{key}");
        checked += 1;
    }
    for s in snap["top_rtt"].as_array().unwrap() {
        let key = format!(
            "{} {}",
            s["local"].as_str().unwrap(),
            s["remote"].as_str().unwrap()
        );
        let r = row(&dom, "top-rtt", &key).unwrap_or_else(|| panic!("row {key} missing"));
        assert_eq!(cell(r, "rtt_us").unwrap(), ms(&s["rtt_us"]), "{key}");
        assert_eq!(cell(r, "rttvar_us").unwrap(), ms(&s["rttvar_us"]), "{key}");
        assert_eq!(
            cell(r, "rtt_min_us").unwrap(),
            ms(&s["rtt_min_us"]),
            "{key}"
        );
        assert_eq!(cell(r, "cwnd").unwrap(), kib(&s["cwnd"]), "{key}");
        assert_eq!(cell(r, "process").unwrap(), process(s), "{key}");
        checked += 1;
    }
    assert_eq!(checked, 20);
    // The hand-placed sockets are where they belong, with their processes
    // (a command with quotes and angle brackets shown as text, not markup).
    let worst = row(&dom, "top-rexmit", "127.0.3.1:61001 127.0.3.250:8443").unwrap();
    assert_eq!(cell(worst, "rexmit_delta").unwrap(), "411");
    assert_eq!(cell(worst, "process").unwrap(), "payments-api (31337)");
    let slowest = row(&dom, "top-rtt", "127.0.3.1:61002 [fd00::7]:5432").unwrap();
    assert_eq!(cell(slowest, "rtt_us").unwrap(), "1730.13");
    assert_eq!(
        cell(slowest, "process").unwrap(),
        "pg \"replica\" <sync> (2718)"
    );
    assert!(!dom.contains("<sync>"), "a command name became markup");

    // Listeners over 80 % full: exactly the two in the snapshot, fullest
    // first, with queue, backlog, fill and process; the one at 80 % is not.
    let full = snap["full_listeners"].as_array().unwrap();
    let locals: Vec<&str> = full.iter().map(|s| s["local"].as_str().unwrap()).collect();
    assert_eq!(locals, ["127.0.3.1:7000", "127.0.3.1:7001"]);
    assert_eq!(snap["summary"]["listeners_nearly_full"], 2);
    for s in full {
        let key = format!("{} 0.0.0.0:0", s["local"].as_str().unwrap());
        let r = row(&dom, "full-listeners", &key).unwrap_or_else(|| panic!("row {key} missing"));
        assert_eq!(cell(r, "accept_queue").unwrap(), int(&s["accept_queue"]));
        assert_eq!(
            cell(r, "accept_backlog").unwrap(),
            int(&s["accept_backlog"])
        );
        let (q, b) = (
            s["accept_queue"].as_u64().unwrap(),
            s["accept_backlog"].as_u64().unwrap().max(1),
        );
        assert_eq!(
            cell(r, "fill").unwrap(),
            ((200 * q + b) / (2 * b)).to_string()
        );
        assert_eq!(cell(r, "process").unwrap(), process(s), "{key}");
    }
    let over = row(&dom, "full-listeners", "127.0.3.1:7000 0.0.0.0:0").unwrap();
    assert_eq!(cell(over, "fill").unwrap(), "125");
    assert_eq!(cell(over, "process").unwrap(), "overflowing (7000)");
    let table = &dom[dom.find("id=\"full-listeners\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(
        table.find("127.0.3.1:7000").unwrap() < table.find("127.0.3.1:7001").unwrap(),
        "fullest listener not first"
    );
    assert!(
        !table.contains("7002"),
        "a listener at exactly 80 % was listed"
    );
    assert!(dom.contains("id=\"full-sub\">2 listeners"));

    // The screenshot, kept as an artifact.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("endpoint-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    ep.hub().publish(Arc::new(fresh_batch()));
    let profile2 = tempfile::tempdir().unwrap();
    chromium(
        profile2.path(),
        &[
            // Short enough that the static test sample still reads "live".
            "--virtual-time-budget=1500",
            &format!("--screenshot={}", png.display()),
        ],
        &url,
    );
    let img = std::fs::read(&png).expect("screenshot written");
    assert!(img.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(img.len() > 20_000, "screenshot suspiciously small");
    println!("screenshot: {}", png.display());
    rt.block_on(ep.shutdown());
}
