//! Regression tests for the hardening issue: each defect found when raconn
//! was attacked (hostile CA replies, odd names, odd files, full outputs,
//! unreachable CAs, wrong clocks), driven through the `raconn` binary
//! against raconn-sim, and judged by openssl, Python `cryptography` and the
//! kernel (an address-space limit, /dev/full).

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use raconn_sim::{Fault, ServerKey, Stream};

fn issue_as(
    e: &Env,
    cfg: &std::path::Path,
    id: &str,
    cn: &str,
    extra: &[&str],
) -> std::process::Output {
    let out = e.path(&format!("{id}.pfx"));
    let out = match extra.iter().position(|a| *a == "--out") {
        Some(i) => extra[i + 1].to_string(),
        None => s(&out).to_string(),
    };
    let i = IssueArgs::new(e, cfg, id, cn, &out);
    let mut a = i.args();
    let mut rest = extra.iter();
    while let Some(x) = rest.next() {
        if *x == "--out" {
            rest.next();
        } else {
            a.push(x);
        }
    }
    raconn(&a)
}

fn enrollments(e: &Env) -> usize {
    e.sim
        .recorded()
        .iter()
        .filter(|r| r.path.ends_with("enrollmentService"))
        .count()
}

/// Python `cryptography` opens a PFX and reports the certificate's CN,
/// whether it holds the key, and the DER of each other-name value (hex).
fn pfx_facts(path: &std::path::Path) -> serde_json::Value {
    let script = r#"
import json, sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
p = pkcs12.load_pkcs12(open(sys.argv[1], "rb").read(), sys.argv[2].encode())
c = p.cert.certificate
cn = c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
other = [[o.type_id.dotted_string, o.value.hex()] for o in san.get_values_for_type(x509.OtherName)]
print(json.dumps({"cn": cn, "other": other, "key": p.key is not None}))
"#;
    let o = Command::new("python3")
        .args(["-c", script, s(path), PASSWORD])
        .output()
        .expect("python3");
    assert!(o.status.success(), "python: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("json")
}

/// Runs `raconn ARGS` under an address-space limit (Python's
/// `resource.setrlimit`, in the child only); returns its output, the
/// seconds it took and its peak resident memory in KiB.
fn raconn_limited(limit_mib: u64, args: &[&str]) -> (std::process::Output, f64, u64) {
    let script = r#"
import resource, subprocess, sys, time, json
limit = int(sys.argv[1]) << 20
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
t = time.monotonic()
p = subprocess.run(sys.argv[2:], preexec_fn=cap, capture_output=True)
dt = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.buffer.write(p.stderr)
print(json.dumps({"rc": p.returncode, "secs": dt, "maxrss_kib": ru.ru_maxrss}))
"#;
    let limit = limit_mib.to_string();
    let mut a = vec!["-c", script, &limit, env!("CARGO_BIN_EXE_raconn")];
    a.extend_from_slice(args);
    let o = Command::new("python3")
        .args(&a)
        .env_remove("RACONN_STORE")
        .env_remove("RACONN_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    (
        o,
        v["secs"].as_f64().unwrap(),
        v["maxrss_kib"].as_u64().unwrap(),
    )
}

/// Defect 1: a CA (or proxy) that never stops sending. Each endless reply
/// — a body without Content-Length, endless chunks, an endless head — is
/// refused at the reply limit with its own code, long before the timeout,
/// inside a 512 MiB address space (the old client grew to 7.8 GB); a
/// head that trickles in one byte at a time ends at the timeout.
#[test]
fn endless_replies_end_at_the_limit() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let small = e.path("small.toml");
    std::fs::write(
        &small,
        format!(
            "max_reply_bytes = 65536\n{}",
            std::fs::read_to_string(&cfg).unwrap()
        ),
    )
    .unwrap();
    let cases: [(Stream, &std::path::Path, &str, &str); 4] = [
        (
            Stream::EndlessBody,
            &cfg,
            "RC-HTTP-003",
            "more than 4194304 bytes",
        ),
        (
            Stream::EndlessChunked,
            &cfg,
            "RC-HTTP-003",
            "more than 4194304 bytes",
        ),
        (
            Stream::EndlessBody,
            &small,
            "RC-HTTP-003",
            "more than 65536 bytes",
        ),
        (
            Stream::EndlessHead,
            &cfg,
            "RC-HTTP-002",
            "no end of head within",
        ),
    ];
    for (stream, c, code, detail) in cases {
        e.sim.set_fault(Fault::Endless(stream));
        let (o, secs, rss) = raconn_limited(512, &["--config", s(c), "policy", "users"]);
        let err = text(&o.stderr);
        assert!(
            err.contains(code) && err.contains(detail) && !err.contains("panicked"),
            "{stream:?}: {err}"
        );
        assert!(
            secs < 20.0,
            "{stream:?}: refused by the timeout, not the limit: {secs:.2} s"
        );
        eprintln!(
            "{stream:?} with {}: refused in {secs:.3} s, raconn peak RSS {rss} KiB",
            c.display()
        );
    }
    let short = e.config("short.toml", &e.thumbprint, 1500, "");
    e.sim.set_fault(Fault::Endless(Stream::SlowHead));
    let t = Instant::now();
    let o = raconn(&["--config", s(&short), "policy", "users"]);
    let secs = t.elapsed().as_secs_f64();
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("RC-PKIWS-002") && err.contains("ca_timeout_ms = 1500"),
        "{err}"
    );
    assert!(
        (1.4..4.0).contains(&secs),
        "slow head ended after {secs:.2} s"
    );
    eprintln!("slow head: refused after {secs:.3} s (ca_timeout_ms = 1500)");
    e.sim.set_fault(Fault::None);
    let o = raconn(&["--config", s(&cfg), "policy", "users"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// Defect 2: a common name outside the Basic Multilingual Plane. The CA
/// issues, the PFX is written (its BMPString friendlyName shows U+FFFD for
/// those characters), and the certificate keeps the name exactly.
#[test]
fn a_name_outside_the_bmp_gives_a_pfx() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let cn = "𠮷野 太郎 🦀";
    let o = issue_as(&e, &cfg, "astral-1", cn, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let f = pfx_facts(&e.path("astral-1.pfx"));
    assert_eq!(f["cn"], cn);
    // openssl reads the friendlyName bag attribute: OpenSSL 3.2 and later
    // print a BMPString as UTF-8, 3.0 and 3.1 print the low byte of each
    // UTF-16 unit (U+FFFD → FD, 野 U+91CE → CE, 太 U+592A → '*').
    let o = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            s(&e.path("astral-1.pfx")),
            "-info",
            "-nodes",
            "-passin",
        ])
        .arg(format!("pass:{PASSWORD}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let utf8 = "friendlyName: \u{FFFD}野 太郎 \u{FFFD}\n".as_bytes();
    let low_bytes = b"friendlyName: \xFD\xCE *\xCE \xFD\n";
    let has = |n: &[u8]| o.stdout.windows(n.len()).any(|w| w == n);
    assert!(has(utf8) || has(low_bytes), "{}", text(&o.stdout));
    assert_eq!(f["key"], true);
    // A rerun replays the journal: the same certificate, no second enrollment.
    let before = enrollments(&e);
    let o = issue_as(&e, &cfg, "astral-1", cn, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(enrollments(&e), before);
}

/// Defect 3: a password file that is not UTF-8 is refused before anything
/// is sent, never turned into U+FFFD.
#[test]
fn a_password_file_that_is_not_utf8_is_refused() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let pw = e.path("latin1-pw");
    std::fs::write(&pw, b"caf\xe9 au lait\n").unwrap();
    let out = e.path("pw.pfx");
    let mut i = IssueArgs::new(&e, &cfg, "pw-1", "Zoe", s(&out));
    i.password_file = pw.clone();
    let o = raconn(&i.args());
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("RC-HOST-021") && err.contains("byte 3"),
        "{err}"
    );
    assert!(!out.exists());
    assert_eq!(enrollments(&e), 0);
}

/// Defect 6: `--out` at a device node is refused and the node is left as
/// it was; `--out -` writes the PFX to standard output (openssl opens it)
/// and the report to standard error.
#[test]
fn pfx_goes_only_to_a_regular_file_or_stdout() {
    use std::os::unix::fs::FileTypeExt;
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let fifo = e.path("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for target in ["/dev/full", s(&fifo)] {
        let o = issue_as(&e, &cfg, "dev-1", "Zoe", &["--out", target]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{target}: {err}");
        assert!(err.contains("not a regular file"), "{target}: {err}");
    }
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(enrollments(&e), 0, "refused before anything was sent");
    let o = issue_as(&e, &cfg, "stdout-1", "Zoe", &["--out", "-"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("Thumbprint"),
        "{}",
        text(&o.stderr)
    );
    let pfx = e.path("from-stdout.pfx");
    std::fs::write(&pfx, &o.stdout).unwrap();
    assert_eq!(pfx_facts(&pfx)["cn"], "Zoe");
}

/// Defect 7: printing never panics. A full stderr still gives exit 1 (not
/// 101); a full stdout is exit 1 with RC-HOST-018, also for --help.
#[test]
fn full_outputs_never_panic_and_never_exit_0() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let bin = env!("CARGO_BIN_EXE_raconn");
    let o = Command::new(bin)
        .args(["inspect", "/nonexistent/file"])
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    for args in [
        &["explain", "RC-HOST-001"][..],
        &["--json", "explain", "--all"],
        &["--help"],
    ] {
        let o = Command::new(bin)
            .args(args)
            .stdout(full())
            .output()
            .unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        if args[0] != "--help" {
            assert!(err.contains("RC-HOST-018"), "{args:?}: {err}");
        }
    }
    let o = Command::new(bin)
        .args(["explain", "RC-HOST-001"])
        .stdout(full())
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

/// Defects 8 and 9: a reply that is not a policy is an error with a code;
/// a refused connection, a name that does not resolve and a reply of the
/// wrong service each get their own code.
#[test]
fn wrong_replies_and_unreachable_cas_say_what_happened() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 5_000, "");
    e.sim.set_fault(Fault::WrongReply);
    let o = raconn(&["--config", s(&cfg), "policy", "users"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("RC-XML-007") && err.contains("getPoliciesResponse"),
        "{err}"
    );
    e.sim.set_fault_for("enrollmentService", Fault::WrongReply);
    let o = issue_as(&e, &cfg, "wrong-1", "Zoe", &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("RC-"), "{err}");
    assert!(!e.path("wrong-1.pfx").exists());
    e.sim.set_fault(Fault::None);

    let t = std::fs::read_to_string(&cfg).unwrap();
    let port = e.server.addr.port().to_string();
    // A port nobody listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (host, code, what) in [
        (format!("127.0.0.1:{closed}"), "RC-PKIWS-022", "refused"),
        (
            "raconn-test.invalid:443".to_string(),
            "RC-PKIWS-021",
            "raconn-test.invalid",
        ),
    ] {
        let c = e.path("unreachable.toml");
        std::fs::write(&c, t.replace(&format!("localhost:{port}"), &host)).unwrap();
        let o = raconn(&["--config", s(&c), "policy", "users"]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{host}: {err}");
        assert!(
            err.contains(code) && err.to_lowercase().contains(what),
            "{host}: {err}"
        );
        assert!(
            !err.contains("RC-PKIWS-013") && !err.contains("RC-PKIWS-003"),
            "{host}: {err}"
        );
    }
}

/// Defect 11: control characters never reach the CA; a long CN, an e-mail
/// that is not local@domain and bidi controls are warned about, naming
/// the field, and refused with `strict = true`.
#[test]
fn values_no_one_wants_are_refused_or_warned() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let strict = e.config("strict.toml", &e.thumbprint, 20_000, "strict = true");
    for (i, cn) in ["Zoe\nMüller", "Zoe\rMüller", "Zoe\tMüller", "Zoe\u{7}"]
        .iter()
        .enumerate()
    {
        let o = issue_as(&e, &cfg, &format!("ctl-{i}"), cn, &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cn:?}: {err}");
        assert!(
            err.contains("RC-PROF-021") && err.contains("cn"),
            "{cn:?}: {err}"
        );
    }
    assert_eq!(
        enrollments(&e),
        0,
        "nothing with a control character was sent"
    );
    let long = "A".repeat(65);
    let warned = [
        (long.as_str(), "RC-PROF-W08"),
        ("Zoe \u{202E}rellüM", "RC-PROF-W10"),
    ];
    for (i, (cn, code)) in warned.iter().enumerate() {
        let o = issue_as(&e, &cfg, &format!("warn-{i}"), cn, &[]);
        assert!(o.status.success(), "{cn:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(code),
            "{cn:?}: {}",
            text(&o.stderr)
        );
        let before = enrollments(&e);
        let o = issue_as(&e, &strict, &format!("strict-{i}"), cn, &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{cn:?}: {err}");
        assert!(
            err.contains("RC-PROF-022") && err.contains(code),
            "{cn:?}: {err}"
        );
        assert_eq!(enrollments(&e), before);
    }
    let out = e.path("mail-1.pfx");
    let mut i = IssueArgs::new(&e, &cfg, "mail-1", "Zoe", s(&out));
    i.email = "zoe.contoso.com";
    let o = raconn(&i.args());
    let err = text(&o.stderr);
    assert!(
        err.contains("RC-PROF-W09") && err.contains("email"),
        "{err}"
    );
}

/// Defect 12: `utf8:TEXT` gives an other-name whose value is a DER
/// UTF8String of TEXT (read back by Python `cryptography`).
#[test]
fn utf8_other_names_are_utf8strings() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let out = e.path("u8.pfx");
    let mut i = IssueArgs::new(&e, &cfg, "u8-1", "Zoe", s(&out));
    i.other_name = "1.3.6.1.4.1.311.25.1=utf8:Zoë";
    let o = raconn(&i.args());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let f = pfx_facts(&out);
    let other = f["other"].as_array().unwrap();
    let v = other
        .iter()
        .find(|o| o[0] == "1.3.6.1.4.1.311.25.1")
        .unwrap_or_else(|| panic!("{f}"));
    // UTF8String (0x0C), length 4, "Zoë".
    assert_eq!(v[1], "0c045a6fc3ab");
}

/// Defect 14: a certificate not yet valid (the CA's clock ahead by a day)
/// or already expired (behind by a year) is warned about at issuance and
/// again when replayed from the journal, naming both times.
#[test]
fn clock_trouble_is_warned_naming_both_times() {
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    for (offset, id, code, field) in [
        (86_400, "clock-ahead", "RC-CERT-W01", "notBefore 20"),
        (-400 * 86_400, "clock-behind", "RC-CERT-W02", "notAfter 20"),
    ] {
        e.sim.set_clock_offset(offset);
        let o = issue_as(&e, &cfg, id, "Zoe", &[]);
        let err = text(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains(code) && err.contains(field) && err.contains("this machine's clock 20"),
            "{err}"
        );
        e.sim.set_clock_offset(0);
        let o = issue_as(&e, &cfg, id, "Zoe", &[]);
        let err = text(&o.stderr);
        assert!(o.status.success() && err.contains(code), "replay: {err}");
    }
    let o = issue_as(&e, &cfg, "clock-ok", "Zoe", &[]);
    assert!(
        !text(&o.stderr).contains("RC-CERT-W"),
        "{}",
        text(&o.stderr)
    );
}

/// Defect 15: the CA written as a bracketed IPv6 literal, with the
/// simulator listening on [::1] and its certificate naming ::1.
#[test]
fn a_bracketed_ipv6_ca_address_works() {
    let e = env(ServerKey::P256);
    let v6 =
        raconn_sim::server::start(e.sim.clone(), "[::1]:0", raconn_sim::server::Versions::Both)
            .expect("the simulator listens on [::1] (IPv6 loopback is needed by this test)");
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let t = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("localhost:{}", e.server.addr.port()),
        &format!("[::1]:{}", v6.addr.port()),
    );
    std::fs::write(&cfg, t).unwrap();
    let o = issue_as(&e, &cfg, "v6-1", "Zoe", &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(pfx_facts(&e.path("v6-1.pfx"))["cn"], "Zoe");
}

/// Defect 10: `raconn check` changes nothing. A missing store is reported
/// missing (and not created); a group-writable journal is refused naming
/// the fix; a journal path that is a file fails.
#[test]
fn check_reports_and_creates_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let e = env(ServerKey::P256);
    let cfg = e.config("raconn.toml", &e.thumbprint, 20_000, "");
    let t = std::fs::read_to_string(&cfg).unwrap();
    let missing = e.path("missing.toml");
    std::fs::write(
        &missing,
        t.replace("store = \"store\"", "store = \"no-store-here\""),
    )
    .unwrap();
    let o = raconn(&["--config", s(&missing), "check"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL RA store") && out.contains("no-store-here"),
        "{out}"
    );
    assert!(!e.path("no-store-here").exists(), "check created the store");

    let o = raconn(&["--config", s(&cfg), "check"]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("does not exist yet"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        !e.path("store/journal").exists(),
        "check created the journal"
    );
    // The first issuance creates the journal 0700.
    let o = issue_as(&e, &cfg, "j-1", "Zoe", &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j = e.path("store/journal");
    assert_eq!(
        std::fs::metadata(&j).unwrap().permissions().mode() & 0o777,
        0o700
    );
    std::fs::set_permissions(&j, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = raconn(&["--config", s(&cfg), "check"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("RC-HOST-019") && out.contains("chmod go-w"),
        "{out}"
    );
    let o = issue_as(&e, &cfg, "j-2", "Zoe", &[]);
    assert!(
        text(&o.stderr).contains("RC-HOST-019"),
        "{}",
        text(&o.stderr)
    );
    std::fs::set_permissions(&j, std::fs::Permissions::from_mode(0o700)).unwrap();

    let file = e.path("journal-file");
    std::fs::write(&file, "").unwrap();
    let jf = e.path("jf.toml");
    std::fs::write(&jf, format!("journal = \"journal-file\"\n{t}")).unwrap();
    let o = raconn(&["--config", s(&jf), "check"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL issuance journal") && out.contains("not a directory"),
        "{out}"
    );
}
