//! Appliance firmware for QEMU (mps2-an386, Cortex-M4F) that links the whole
//! raconn-embedded adapter — HSM seam, embedded-tls, HTTP framing, flash
//! store and journal, the core's engine — with no `#[global_allocator]`,
//! built with `-Zbuild-std=core`, so nothing in it can use `alloc`.
//!
//! 1. Builds and signs a P-256 PKCS#10 with a fixed test scalar and prints it
//!    as PEM on stdout (RFC 6979 makes it deterministic; CI compares it with a
//!    golden file).
//! 2. The offline half of an issuance: loads the configuration and the
//!    cached policy from the flash image (`flash.img`, made by
//!    `cargo run -p raconn-tests --example flash_image`), generates the
//!    device key in the software HSM's slot 1 and builds the signed
//!    enrollment request, written to the host file `enroll-request.xml`
//!    (semihosting) for CI to check with the service's XSDs.
//! 3. The online half on a board without a network: `client::issue` runs
//!    until the connector reports no network, and prints that error code —
//!    so TLS, HTTP and the journal are linked and sized, not optimised away.
//!
//! When the host directory holds `flash.img`, the firmware runs online
//! instead: the flash is that file (written through on every flash write,
//! so a run killed anywhere leaves it as a power cut would), the HSM's key
//! slots persist in `hsm.bin`, the network is framed TCP over the board's
//! UART to a relay on the host ([`uart`]), the clock is the host's, and
//! `client::issue` runs the whole issuance — TLS 1.3 with the RA key in the
//! HSM, the server chain and host name, policy, enrollment, the journal —
//! writing the certificate to `issued.der` (`tests/examples/qemu_issuance.rs`).
#![no_std]
#![no_main]

mod hostfs;
mod uart;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, heprint, heprintln, hprint, hprintln};
use panic_semihosting as _;
use raconn_embedded::client::{self, Job, Work};
use raconn_embedded::error::EmbeddedError;
use raconn_embedded::hsm::Hsm;
use raconn_embedded::hsm::SlotKey;
use raconn_embedded::raconn_core::csr::{CsrSpec, KeyUsageReq, SanSource};
use raconn_embedded::raconn_core::error::Explain;
use raconn_embedded::raconn_core::ext::GeneralName;
use raconn_embedded::raconn_core::issuance::KeyChoice;
use raconn_embedded::raconn_core::oid;
use raconn_embedded::raconn_core::profile::{Identity, SubjectFormat};
use raconn_embedded::ram_flash::RamFlash;
use raconn_embedded::soft_hsm::{SoftHsm, DEMO_RA_SCALAR};
use raconn_embedded::store::{self, Store};

/// Test-only P-256 scalar (never use for anything real).
const TEST_KEY: [u8; 32] = [
    0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16, 0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
    0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12, 0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21,
];

/// Stack measurement: fill the free RAM below the stack with a pattern
/// before the work, find the lowest overwritten word after it. Reported on
/// semihosting stderr so stdout stays the bare PEM.
mod stack {
    extern "C" {
        static mut __sheap: u32;
        static mut _stack_start: u32;
    }
    const PAINT: u32 = 0x5AA5_C33C;

    /// Paints [heap start, SP - 256) and returns the painted range.
    pub fn paint() -> (usize, usize) {
        let start = core::ptr::addr_of_mut!(__sheap) as usize;
        let sp = cortex_m::register::msp::read() as usize;
        let end = sp.saturating_sub(256) & !3;
        let mut p = start;
        while p < end {
            // SAFETY: [start, end) is RAM between .bss and the live stack frame: unused.
            unsafe { (p as *mut u32).write_volatile(PAINT) };
            p += 4;
        }
        (start, end)
    }

    /// Bytes of stack used at the deepest point since `paint`.
    pub fn high_water(start: usize, end: usize) -> usize {
        let top = core::ptr::addr_of_mut!(_stack_start) as usize;
        let mut p = start;
        // SAFETY: reading back the words painted above.
        while p < end && unsafe { (p as *const u32).read_volatile() } == PAINT {
            p += 4;
        }
        top - p
    }
}

#[entry]
fn main() -> ! {
    let (lo, hi) = stack::paint();
    let r = run().and_then(|()| appliance());
    heprintln!("stack high-water mark: {} bytes", stack::high_water(lo, hi));
    let code = match r {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(()) => debug::EXIT_FAILURE,
    };
    debug::exit(code);
    #[allow(clippy::empty_loop)]
    loop {}
}

// Not inlined: its buffers would otherwise stay in `main`'s frame, under
// the issuance's stack.
#[inline(never)]
fn run() -> Result<(), ()> {
    // The test key in the HSM's slot 1, signed through the slot as the
    // issuance signs: one CSR builder in the image instead of two.
    let hsm = PersistentHsm::with(TEST_KEY, false);
    let key = SlotKey::new(&hsm, 1).map_err(|e| hprintln!("key: {}", e))?;
    let san = [
        GeneralName::Dns("appliance-01.contoso.com"),
        GeneralName::Upn("appliance-01@contoso.local"),
    ];
    let eku = [oid::KP_CLIENT_AUTH];
    let spec = CsrSpec {
        key_usage: Some(KeyUsageReq {
            mask: 0xa0,
            critical: true,
        }),
        eku: &eku,
        san: SanSource::Names(&san),
        ..CsrSpec::new("C=FR, O=Contoso, CN=appliance-01")
    };
    let mut der = [0u8; 512];
    let mut pem = [0u8; 1024];
    let text = raconn_embedded::csr_pem(&spec, &key, &mut der, &mut pem)
        .map_err(|e| hprintln!("csr: {}", e))?;
    hprint!("{}", text);
    Ok(())
}

/// The flash image: configuration, RA certificate, trust anchor, cached
/// policy. A named array (not an anonymous `&[u8]`), so the size report
/// shows it on its own line: a real board has this in its NOR flash.
static IMAGE: [u8; IMAGE_LEN] = *include_bytes!("../flash.img");
const IMAGE_LEN: usize = include_bytes!("../flash.img").len();
const FLASH_SIZE: usize = 64 * 1024;

/// The TLS read buffer: a record of any size (16 640 B), or — with the
/// `max-fragment-4096` feature, for a CA that honours the
/// max_fragment_length of 4 096 the configuration offers — 4 352 B. It is
/// also the flash scratch, so such an image keeps no cached policy.
const TLS_READ: usize = client::tls_read_needed(if cfg!(feature = "max-fragment-4096") {
    Some(4096)
} else {
    None
});

/// Writes `data` to a host file over semihosting (`name` ends with NUL).
fn host_file(name: &str, data: &[u8]) -> Result<(), ()> {
    use cortex_m_semihosting::{nr, syscall};
    let n = name.as_bytes();
    // SAFETY: SYS_OPEN/WRITE/CLOSE with pointers to live, NUL-terminated data.
    let fd = unsafe { syscall!(OPEN, n.as_ptr(), nr::open::W_TRUNC, n.len() - 1) } as isize;
    if fd < 0 {
        return Err(());
    }
    let left = unsafe { syscall!(WRITE, fd as usize, data.as_ptr(), data.len()) };
    unsafe { syscall!(CLOSE, fd as usize) };
    if left == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// A static buffer (`.bss`), handed out once, painted with [`PAINT`].
macro_rules! buf {
    ($n:expr) => {{
        static mut B: [u8; $n] = [0; $n];
        // SAFETY: each expansion has its own static; `appliance` runs once.
        let b: &'static mut [u8; $n] = unsafe { &mut *core::ptr::addr_of_mut!(B) };
        b.fill(PAINT);
        b
    }};
}

/// What the work buffers hold before use: the last byte that differs
/// marks how far a buffer was used (its high-water mark), as the painted
/// stack does for the stack. A buffer whose data ends in this byte reads
/// a few bytes short — well inside the headroom the sizes keep.
const PAINT: u8 = 0xA5;

/// How many bytes of `b` were used: up to the last byte that is not [`PAINT`].
fn used(b: &[u8]) -> usize {
    b.iter().rposition(|&x| x != PAINT).map_or(0, |i| i + 1)
}

/// Where a work buffer is, to read its high-water mark once the issuance
/// that borrowed it is over.
type Mark = (&'static str, *const u8, usize);

/// Prints each work buffer's high-water mark and size, for
/// `scripts/fw-size.py` (through `tests/examples/qemu_issuance.rs`).
fn report_buffers(marks: &[Mark]) {
    heprint!("buffer high-water marks:");
    for &(name, p, n) in marks {
        // SAFETY: `p..p+n` is one of `appliance`'s static buffers; the
        // issuance that borrowed it has returned.
        let b = unsafe { core::slice::from_raw_parts(p, n) };
        heprint!(" {}={}/{}", name, used(b), n);
    }
    heprintln!("");
}

/// The software HSM with its key slots kept in the host file `hsm.bin`
/// (32 bytes per slot, zero: empty), as a secure element keeps its keys.
struct PersistentHsm {
    soft: SoftHsm<2>,
    slots: [[u8; 32]; 2],
    /// Write the slots to `hsm.bin` (the online half); the offline half
    /// keeps them in RAM.
    persist: bool,
}

impl PersistentHsm {
    fn load() -> Self {
        let mut raw = [0u8; 64];
        if hostfs::read("hsm.bin\0", &mut raw) != Some(64) {
            raw = [0; 64];
        }
        let mut device = [0u8; 32];
        device.copy_from_slice(raw.split_at(32).1);
        Self::with(device, true)
    }

    /// As manufactured: the RA key, no device key, nothing written to the
    /// host (the offline half).
    fn provisioned() -> Self {
        Self::with([0; 32], false)
    }

    /// Slot 0: the RA key as provisioned at manufacturing; slot 1: `device`
    /// (zero: empty).
    fn with(device: [u8; 32], persist: bool) -> Self {
        let mut soft = SoftHsm::<2>::new(*b"raconn firmware demo seed 32 B!!");
        let slots = [DEMO_RA_SCALAR, device];
        for (i, s) in slots.iter().enumerate() {
            if *s != [0; 32] {
                let _ = soft.import_p256(i as u8, s);
            }
        }
        PersistentHsm {
            soft,
            slots,
            persist,
        }
    }
}

impl Hsm for PersistentHsm {
    fn generate(
        &mut self,
        slot: u8,
        spec: raconn_embedded::hsm::KeyKind,
    ) -> Result<(), raconn_embedded::hsm::HsmError> {
        use raconn_embedded::hsm::HsmError;
        if spec != raconn_embedded::hsm::KeyKind::P256 {
            return Err(HsmError::Unsupported);
        }
        let mut s = [0u8; 32];
        for _ in 0..8 {
            self.soft.fill_random(&mut s)?;
            if self.soft.import_p256(slot, &s).is_ok() {
                *self
                    .slots
                    .get_mut(usize::from(slot))
                    .ok_or(HsmError::NoSuchSlot)? = s;
                if !self.persist {
                    return Ok(());
                }
                let mut raw = [0u8; 64];
                let (a, b) = raw.split_at_mut(32);
                a.copy_from_slice(&self.slots[0]);
                b.copy_from_slice(&self.slots[1]);
                return hostfs::write("hsm.bin\0", &raw).map_err(|()| HsmError::Device);
            }
        }
        Err(HsmError::Device)
    }

    fn public_key<'b>(
        &self,
        slot: u8,
        out: &'b mut [u8],
    ) -> Result<&'b [u8], raconn_embedded::hsm::HsmError> {
        self.soft.public_key(slot, out)
    }

    fn sign(
        &self,
        slot: u8,
        alg: raconn_embedded::hsm::SignatureScheme,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, raconn_embedded::hsm::HsmError> {
        self.soft.sign(slot, alg, msg, out)
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), raconn_embedded::hsm::HsmError> {
        self.soft.fill_random(out)
    }
}

const JOB: Job<'static> = Job {
    request_id: "appliance-0001",
    subject_format: SubjectFormat::CommonNameIncludingEmail,
    san: &[],
    other_names: &[],
    identity: Identity {
        cn: "appliance-0001",
        email: Some("ops@contoso.example"),
        upn: None,
    },
    key: KeyChoice::P256,
    strict: false,
};

fn appliance() -> Result<(), ()> {
    static mut FLASH: RamFlash<FLASH_SIZE> = RamFlash::zeroed();
    // SAFETY: the only reference to FLASH; `appliance` runs once.
    let flash = unsafe { &mut *core::ptr::addr_of_mut!(FLASH) };
    // Sized from measured messages (SIZE.md's buffer table; README
    // "Footprint"): the largest known reply is the service's example
    // getPoliciesResponse, 8 150 B + head, so 12 KiB; a request 1 598 B
    // measured (P-256 key), 2 919 B for the example with an RSA-2048 CSR;
    // the engine holds the policy's CA certificates (1 737 B in the example)
    // and the CSR; the token is the PKCS#7 (2 796 B in the example). A
    // larger message fails with RC-BUF-001 naming the bytes it needs.
    // The TLS write buffer holds the client's Certificate message whole
    // (client::tls_write_needed: the RA certificate buffer + 256); requests
    // go out in records of its size.
    let (tls_read, tls_write, reply) = (buf!(TLS_READ), buf!(2304), buf!(12288));
    let (request, work, token, record) = (buf!(4096), buf!(6144), buf!(6144), buf!(4096));
    // Kept for the issuance, read through `tls_read` (the flash scratch
    // between connections): sized to the items, not to the largest item.
    let (cfg, ra, anchor) = (buf!(store::CONFIG_MAX), buf!(2048), buf!(2048));
    let marks: [Mark; 7] = [
        ("tls_read", tls_read.as_ptr(), tls_read.len()),
        ("tls_write", tls_write.as_ptr(), tls_write.len()),
        ("reply", reply.as_ptr(), reply.len()),
        ("request", request.as_ptr(), request.len()),
        ("work", work.as_ptr(), work.len()),
        ("token", token.as_ptr(), token.len()),
        ("record", record.as_ptr(), record.len()),
    ];
    let w = Work {
        tls_read,
        tls_write,
        reply,
        request,
        work,
        token,
        record,
        cfg,
        ra,
        anchor,
    };
    if let Some(hf) = hostfs::HostFlash::open("flash.img\0", &mut *flash) {
        let r = run_online(hf, w);
        report_buffers(&marks);
        return r;
    }
    let r = run_offline(flash, w);
    report_buffers(&marks);
    r
}

// Each half polled from its own function, not inlined: the compiler
// inlined the offline half's poll function into `main`, whose frame then
// carried its 6 KB of locals under the online issuance (+4.8 KB of stack
// peak).
#[inline(never)]
fn run_online(flash: hostfs::HostFlash<'_, FLASH_SIZE>, w: Work<'_>) -> Result<(), ()> {
    embassy_futures::block_on(online(flash, w))
}

#[inline(never)]
fn run_offline(flash: &mut RamFlash<FLASH_SIZE>, w: Work<'_>) -> Result<(), ()> {
    embassy_futures::block_on(offline(flash, w))
}

/// The whole issuance over the UART network (see the crate doc).
async fn online(flash: hostfs::HostFlash<'_, FLASH_SIZE>, w: Work<'_>) -> Result<(), ()> {
    let mut store =
        Store::new(flash, 0..FLASH_SIZE as u32).map_err(|e| heprintln!("store: {}", e))?;
    let mut hsm = PersistentHsm::load();
    let mut link = uart::UartLink::new();
    let now = hostfs::time();
    match client::issue(&mut link, &mut hsm, &mut store, &JOB, Some(now), w).await {
        Ok(o) => {
            hostfs::write("issued.der\0", o.certificate)
                .map_err(|()| heprintln!("cannot write issued.der on the host"))?;
            // Named here, not with `{:?}`: the release build has Debug formatting off.
            let source = match o.source {
                client::Source::Issued => "Issued",
                client::Source::Journal => "Journal",
                client::Source::Search => "Search",
            };
            heprintln!(
                "online: certificate of {} B ({}; server validity checked: {})",
                o.certificate.len(),
                source,
                o.expiry_checked
            );
            Ok(())
        }
        Err(e) => {
            report("online", &e);
            Err(())
        }
    }
}

/// Prints a failure: the code with its detail and — when the build carries
/// the texts (raconn-core's `texts` feature; this firmware leaves them out)
/// — the message and remedy; else where to read them.
fn report(step: &str, e: &(impl core::fmt::Display + Explain)) {
    if e.remedy().is_empty() {
        heprintln!(
            "{}: {} — `raconn explain {}` prints the message and remedy",
            step,
            e,
            e.code()
        );
    } else {
        heprintln!("{}: {} — {}", step, e, e.remedy());
    }
}

/// The offline half and the network-less online half (see the crate doc).
/// The HSM, flash and link are the online half's types in their offline
/// modes, so the issuance and store code is in the image once (as on a
/// board with one secure element and one flash): 19.5 KB less flash than
/// with a `SoftHsm`, a bare `RamFlash` and a link type of its own.
async fn offline(flash: &mut RamFlash<FLASH_SIZE>, mut w: Work<'_>) -> Result<(), ()> {
    flash.load(&IMAGE);
    let mut store = Store::new(hostfs::HostFlash::in_memory(flash), 0..FLASH_SIZE as u32)
        .map_err(|e| heprintln!("store: {}", e))?;
    // The RA key as provisioned at manufacturing; the device key is made in slot 1.
    let mut hsm = PersistentHsm::provisioned();
    let job = JOB;
    let written = client::prepare_offline(&mut hsm, &mut store, &job, w.reborrow(), |r| {
        host_file("enroll-request.xml\0", r.body.as_bytes())
    })
    .await
    .map_err(|e| report("offline", &e))?;
    written.map_err(|()| heprintln!("cannot write enroll-request.xml on the host"))?;
    let mut spki = [0u8; 100];
    let n = hsm
        .public_key(1, &mut spki)
        .map_err(|e| heprintln!("hsm: {}", e))?
        .len();
    heprintln!(
        "offline: enrollment request for slot 1 ({} B key) written to enroll-request.xml",
        n
    );
    match client::issue(
        &mut uart::UartLink::absent(),
        &mut hsm,
        &mut store,
        &job,
        None,
        w,
    )
    .await
    {
        Err(EmbeddedError::Io) => {
            heprintln!(
                "online: {} (no network on this board)",
                EmbeddedError::Io.code()
            );
            Ok(())
        }
        Err(e) => {
            heprintln!("online: unexpected {}", e);
            Err(())
        }
        Ok(_) => {
            heprintln!("online: unexpected success");
            Err(())
        }
    }
}
