//! A real issuance from the firmware under QEMU (mps2-an386), against
//! raconn-sim with a P-256 and with an RSA-2048 server certificate (so the
//! adapter's RSA verifier runs on the target).
//!
//! `cargo run --release -p raconn-tests --example qemu_issuance -- ELF [STACKS]`
//!
//! With STACKS, the stack high-water mark of each first boot is written
//! there as `LABEL=BYTES` lines, for `scripts/fw-size.py --stack`, and its
//! work buffers' high-water marks as `buffers LABEL:NAME=USED/SIZE …`
//! lines, for `--buffers`.
//! `QEMU_SHOW_LOG=1` prints the firmware's log of each first boot,
//! `QEMU_RELAY_TRACE=1` every frame the relay carries, and
//! `QEMU_CUT_SEED=N` repeats the power-cut points of an earlier run.
//!
//! For each run: a fresh simulator; a flash image made for it (the CA at
//! `localhost:<port>`, an RA certificate for the demo RA key, the
//! simulator's root, a cached policy) in a temporary directory, which is the
//! firmware's host directory over semihosting; a relay on loopback that
//! carries the firmware's framed UART connections (`firmware/src/uart.rs`)
//! to the simulator — loopback only; QEMU with `-serial tcp:` to the relay.
//! Then: the certificate the firmware writes (`issued.der`) is checked by
//! `openssl verify` against the simulator's root and issuing CA; the
//! simulator recorded exactly one enrollment and one certificate; a second
//! boot on the same flash answers from the journal with no enrollment; and
//! (P-256) boots killed at several points and rebooted on the flash they
//! left still end with exactly one certificate issued. Times are emulation
//! (QEMU on this machine), not hardware.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raconn_sim::server::Versions;
use raconn_sim::{Profiles, ServerKey, Sim};

const OPEN: u8 = 1;
const OPENED: u8 = 2;
const DATA: u8 = 3;
const CLOSE: u8 = 4;
const FAILED: u8 = 5;

type Shared = Arc<Mutex<TcpStream>>;

fn send(to: &Shared, kind: u8, conn: u8, payload: &[u8]) {
    let mut f = vec![kind, conn, (payload.len() >> 8) as u8, payload.len() as u8];
    f.extend_from_slice(payload);
    if let Ok(mut s) = to.lock() {
        let _ = s.write_all(&f);
    }
}

/// Relays one QEMU UART connection; returns (connections opened, bytes each way).
fn relay(uart: TcpStream) -> (u32, u64, u64) {
    let writer: Shared = Arc::new(Mutex::new(uart.try_clone().expect("clone")));
    let mut reader = uart;
    let mut open: HashMap<u8, TcpStream> = HashMap::new();
    let (mut conns, mut up, down) = (0u32, 0u64, Arc::new(Mutex::new(0u64)));
    loop {
        let mut h = [0u8; 4];
        if reader.read_exact(&mut h).is_err() {
            break;
        }
        let len = usize::from(h[2]) << 8 | usize::from(h[3]);
        let mut payload = vec![0u8; len];
        if reader.read_exact(&mut payload).is_err() {
            break;
        }
        let (kind, conn) = (h[0], h[1]);
        if std::env::var_os("QEMU_RELAY_TRACE").is_some() {
            eprintln!("relay: firmware frame {kind} conn {conn} len {len}");
        }
        match kind {
            OPEN => {
                let target = String::from_utf8_lossy(&payload).into_owned();
                let addr = target
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.find(|a| a.ip().is_loopback()));
                let Some(addr) = addr else {
                    send(&writer, FAILED, conn, b"loopback only");
                    continue;
                };
                match TcpStream::connect(addr) {
                    Ok(tcp) => {
                        conns += 1;
                        let mut from_ca = tcp.try_clone().expect("clone");
                        open.insert(conn, tcp);
                        send(&writer, OPENED, conn, &[]);
                        let w = writer.clone();
                        let down = down.clone();
                        std::thread::spawn(move || {
                            let mut b = [0u8; 4096];
                            loop {
                                match from_ca.read(&mut b) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if std::env::var_os("QEMU_RELAY_TRACE").is_some() {
                                            eprintln!("relay: {n} B from the CA on conn {conn}");
                                        }
                                        *down.lock().unwrap() += n as u64;
                                        send(&w, DATA, conn, &b[..n]);
                                    }
                                }
                            }
                            if std::env::var_os("QEMU_RELAY_TRACE").is_some() {
                                eprintln!("relay: CA closed conn {conn}");
                            }
                            send(&w, CLOSE, conn, &[]);
                        });
                    }
                    Err(e) => send(&writer, FAILED, conn, e.to_string().as_bytes()),
                }
            }
            DATA => {
                up += len as u64;
                if let Some(t) = open.get_mut(&conn) {
                    let _ = t.write_all(&payload);
                }
            }
            CLOSE => {
                if let Some(t) = open.remove(&conn) {
                    let _ = t.shutdown(Shutdown::Both);
                }
            }
            _ => {}
        }
    }
    let d = *down.lock().unwrap();
    (conns, up, d)
}

struct Boot {
    child: Child,
    relay: std::thread::JoinHandle<(u32, u64, u64)>,
    started: Instant,
}

/// A boot that has not ended after this long (emulation) is a failure.
const BOOT_LIMIT: Duration = Duration::from_secs(180);

fn boot(elf: &Path, dir: &Path) -> Boot {
    let l = TcpListener::bind("127.0.0.1:0").expect("relay");
    let port = l.local_addr().unwrap().port();
    let log = std::fs::File::create(dir.join("firmware.log")).expect("firmware.log");
    let child = Command::new("qemu-system-arm")
        .current_dir(dir)
        .args([
            "-cpu",
            "cortex-m4",
            "-machine",
            "mps2-an386",
            "-display",
            "none",
            "-monitor",
            "none",
        ])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-serial")
        .arg(format!("tcp:127.0.0.1:{port}"))
        .arg("-kernel")
        .arg(elf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("qemu-system-arm");
    // QEMU connects its UART before the guest starts; a QEMU that never
    // does (failed to start) must not hang the harness.
    l.set_nonblocking(true).expect("nonblocking");
    let relay = std::thread::spawn(move || {
        let t0 = Instant::now();
        loop {
            match l.accept() {
                Ok((uart, _)) => {
                    uart.set_nonblocking(false).expect("blocking");
                    return relay(uart);
                }
                Err(_) if t0.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("QEMU did not connect its UART in 30 s: {e}"),
            }
        }
    });
    Boot {
        child,
        relay,
        started: Instant::now(),
    }
}

/// Runs a boot to its end (killed and failed after [`BOOT_LIMIT`]);
/// returns (success, firmware log, seconds, relay figures).
/// A boot that must issue: the certificate verifies against the
/// simulator's root, and the simulator saw one enrollment and issued one
/// certificate. Returns the log, the online seconds and the traffic.
fn issue_once(elf: &Path, dir: &Path, sim: &Sim, key: ServerKey) -> (String, f64, (u32, u64, u64)) {
    let (ok, log, secs, traffic) = run(elf, dir);
    assert!(ok, "{key:?}: the firmware failed:\n{log}");
    if std::env::var_os("QEMU_SHOW_LOG").is_some() {
        print!("{key:?} server, firmware log:\n{log}");
    }
    assert!(log.contains("online: certificate of"), "{log}");
    openssl_verify(dir, sim);
    assert_eq!(
        (sim.enrollments(), sim.certificates_issued()),
        (1, 1),
        "{key:?}"
    );
    (log, secs, traffic)
}

fn run(elf: &Path, dir: &Path) -> (bool, String, f64, (u32, u64, u64)) {
    let mut b = boot(elf, dir);
    let status = loop {
        if let Some(s) = b.child.try_wait().expect("qemu") {
            break Some(s);
        }
        if b.started.elapsed() > BOOT_LIMIT {
            let _ = b.child.kill();
            let _ = b.child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let secs = b.started.elapsed().as_secs_f64();
    let r = b.relay.join().expect("relay");
    let log = std::fs::read_to_string(dir.join("firmware.log")).unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "the firmware ran for more than {BOOT_LIMIT:?} (relay: {} connections, {} B up, {} B down; QEMU_RELAY_TRACE=1 shows every frame); its log:\n{log}",
            r.0,
            r.1,
            r.2
        );
    };
    (status.success(), log, secs, r)
}

/// The firmware's "online: …" line.
fn outcome(log: &str) -> &str {
    log.lines()
        .find(|l| l.starts_with("online:"))
        .unwrap_or("(no online line)")
}

/// A xorshift generator for the cut points, seeded from the clock unless
/// `QEMU_CUT_SEED` is set (the seed is printed, so a failing run repeats).
struct Cuts(u64);

impl Cuts {
    fn next_fraction(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn openssl_verify(dir: &Path, sim: &Sim) {
    let w = |name: &str, der: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, raconn_host_pem(der)).unwrap();
        p
    };
    let root = w("root.pem", &sim.pki.root.der);
    let issuing = w("issuing.pem", &sim.pki.issuing.der);
    let leaf = w(
        "issued.pem",
        &std::fs::read(dir.join("issued.der")).expect("issued.der"),
    );
    let o = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(&issuing)
        .arg(&leaf)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn raconn_host_pem(der: &[u8]) -> String {
    raconn_host::files::to_pem("CERTIFICATE", der)
}

fn stack(log: &str) -> &str {
    log.lines()
        .find(|l| l.starts_with("stack high-water mark"))
        .unwrap_or("?")
}

/// The stack high-water mark the firmware reports.
fn peak(log: &str) -> u64 {
    stack(log)
        .split_whitespace()
        .find_map(|w| w.parse::<u64>().ok())
        .expect("the firmware reports its stack high-water mark")
}

/// The firmware's buffer high-water marks (`NAME=USED/SIZE …`).
fn marks(log: &str) -> &str {
    log.lines()
        .find_map(|l| l.strip_prefix("buffer high-water marks:"))
        .expect("the firmware reports its buffers' high-water marks")
}

/// The size report's label of a run against `key`.
fn label(key: ServerKey) -> &'static str {
    match key {
        ServerKey::P256 => "real issuance, P-256 server",
        ServerKey::Rsa2048 => "real issuance, RSA-2048 server",
    }
}

fn fresh(sim: &Sim, port: u16) -> (tempfile::TempDir, PathBuf) {
    fresh_with(sim, port, None)
}

fn fresh_with(sim: &Sim, port: u16, mfl: Option<u16>) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tmp");
    let img = raconn_tests::appliance_flash_image_with(sim, "localhost", port, 64 * 1024, mfl);
    let p = d.path().to_path_buf();
    std::fs::write(p.join("flash.img"), img).unwrap();
    (d, p)
}

fn main() {
    let elf = PathBuf::from(std::env::args().nth(1).expect("usage: qemu_issuance ELF"));
    let elf = std::fs::canonicalize(&elf).expect("firmware ELF");
    let stacks_out = std::env::args().nth(2).map(PathBuf::from);
    let mut stacks = String::new();
    for key in [ServerKey::P256, ServerKey::Rsa2048] {
        let sim = Sim::new(Profiles::default_set(), key).expect("sim");
        sim.set_recognise_repeats(false);
        let server =
            raconn_sim::server::start(sim.clone(), "127.0.0.1:0", Versions::Tls13).expect("server");
        let port = server.addr.port();
        let (_keep, dir) = fresh(&sim, port);
        let (log, online_secs, (conns, up, down)) = issue_once(&elf, &dir, &sim, key);
        println!(
            "{key:?} server: {}; {online_secs:.2} s under QEMU (emulation, not hardware), {conns} connections, {up} B up, {down} B down; {}",
            outcome(&log),
            stack(&log)
        );
        let (peak, label) = (peak(&log), label(key));
        stacks.push_str(&format!("{label}={peak}\n"));
        let marks = marks(&log);
        stacks.push_str(&format!(
            "buffers {}:{}\n",
            label.trim_start_matches("real issuance, "),
            marks.trim()
        ));
        // Second boot on the same flash: from the journal.
        let (ok, log, secs, (conns, _, _)) = run(&elf, &dir);
        assert!(ok && log.contains("Journal"), "{key:?} second boot:\n{log}");
        assert_eq!(sim.enrollments(), 1, "{key:?}: the journal answered");
        assert_eq!(conns, 0, "no connection on a replay");
        println!(
            "{key:?} server: second boot: {} in {secs:.2} s",
            outcome(&log)
        );

        if key == ServerKey::P256 {
            // Power cuts: kill QEMU at random points of a full run (one in
            // each fifth, so the run's start, handshake, enrollment and
            // journal write are all hit), reboot on the flash it left.
            let seed = std::env::var("QEMU_CUT_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(1)
                        | 1
                });
            println!("power cuts: QEMU_CUT_SEED={seed}");
            let mut rng = Cuts(seed);
            let fracs: Vec<f64> = (0..5)
                .map(|i| (f64::from(i) + rng.next_fraction()) / 5.0)
                .collect();
            for (i, frac) in fracs.iter().enumerate() {
                let s2 = Sim::new(Profiles::default_set(), key).expect("sim");
                s2.set_recognise_repeats(false);
                let srv2 = raconn_sim::server::start(s2.clone(), "127.0.0.1:0", Versions::Tls13)
                    .expect("server");
                let (_keep2, d2) = fresh(&s2, srv2.addr.port());
                let mut b = boot(&elf, &d2);
                std::thread::sleep(Duration::from_secs_f64(online_secs * frac));
                let _ = b.child.kill();
                let _ = b.child.wait();
                let _ = b.relay.join();
                let issued_at_cut = s2.certificates_issued();
                let (ok, log, _, _) = run(&elf, &d2);
                assert!(ok, "cut {i}: reboot failed:\n{log}");
                openssl_verify(&d2, &s2);
                assert_eq!(
                    (s2.enrollments(), s2.certificates_issued()),
                    (1, 1),
                    "cut {i} at {frac}: exactly one enrollment and one certificate"
                );
                println!(
                    "power cut {i} at {:.0}% of a run ({} certificate(s) issued before the cut): rebooted, {}; {} enrollment, {} certificate in all",
                    frac * 100.0,
                    issued_at_cut,
                    outcome(&log),
                    s2.enrollments(),
                    s2.certificates_issued()
                );
            }
        }
    }
    if let Some(mfl_elf) = std::env::args().nth(3) {
        max_fragment_length(&mfl_elf, &mut stacks);
    }
    if let Some(p) = stacks_out {
        std::fs::write(&p, stacks).expect("stack figures");
    }
}

/// The firmware built with `max-fragment-4096` (TLS read buffer 4 352 B,
/// configuration offering max_fragment_length 4 096): a full issuance for
/// each server key against raconn-sim sending records of at most 4 KiB, as
/// a CA that honours the extension does (rustls does not negotiate it);
/// and against the simulator sending records of up to 16 KiB, the
/// refusal RC-EMB-027 — the buffer really is that small.
fn max_fragment_length(elf: &str, stacks: &mut String) {
    let elf = std::fs::canonicalize(elf).expect("max-fragment-4096 firmware ELF");
    for key in [ServerKey::P256, ServerKey::Rsa2048] {
        let sim = Sim::new(Profiles::default_set(), key).expect("sim");
        sim.set_recognise_repeats(false);
        let server = raconn_sim::server::start_with_records_of(
            sim.clone(),
            "127.0.0.1:0",
            Versions::Tls13,
            Some(4096),
        )
        .expect("server");
        let (_keep, dir) = fresh_with(&sim, server.addr.port(), Some(4096));
        let (log, secs, (conns, up, down)) = issue_once(&elf, &dir, &sim, key);
        let marks = marks(&log);
        println!(
            "{key:?} server, max_fragment_length 4096 (records of at most 4 KiB): {}; {secs:.2} s under QEMU (emulation, not hardware), {conns} connections, {up} B up, {down} B down; {}; buffers:{marks}",
            outcome(&log),
            stack(&log)
        );
        let (peak, label) = (peak(&log), label(key));
        stacks.push_str(&format!("variant {label}={peak}\n"));
    }
    // The same firmware against records of up to 16 KiB: refused, nothing enrolled.
    let sim = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    let server =
        raconn_sim::server::start(sim.clone(), "127.0.0.1:0", Versions::Tls13).expect("server");
    let (_keep, dir) = fresh_with(&sim, server.addr.port(), Some(4096));
    let (ok, log, _, _) = run(&elf, &dir);
    assert!(
        !ok && log.contains("RC-EMB-027"),
        "a 16 KiB record into a 4 352-byte buffer must be refused with RC-EMB-027:\n{log}"
    );
    assert_eq!(sim.enrollments(), 0);
    println!(
        "P256 server sending records of up to 16 KiB, max_fragment_length 4096 firmware: {}",
        log.lines()
            .find(|l| l.contains("RC-EMB-027"))
            .unwrap_or("?")
    );
}
