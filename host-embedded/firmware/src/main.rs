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
//!    `cargo run -p raconn-embedded --example flash_image`), generates the
//!    device key in the software HSM's slot 1 and builds the signed
//!    enrollment request, written to the host file `enroll-request.xml`
//!    (semihosting) for CI to check with the service's XSDs.
//! 3. The online half on a board without a network: `client::issue` runs
//!    until the connector reports no network, and prints that error code —
//!    so TLS, HTTP and the journal are linked and sized, not optimised away.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, heprintln, hprint, hprintln};
use panic_semihosting as _;
use raconn_embedded::client::{self, Connect, Job, Work};
use raconn_embedded::error::EmbeddedError;
use raconn_embedded::hsm::Hsm;
use raconn_embedded::raconn_core::csr::{CsrSpec, KeyUsageReq, SanSource};
use raconn_embedded::raconn_core::error::Explain;
use raconn_embedded::raconn_core::ext::GeneralName;
use raconn_embedded::raconn_core::issuance::KeyChoice;
use raconn_embedded::raconn_core::oid;
use raconn_embedded::raconn_core::profile::{Identity, SubjectFormat};
use raconn_embedded::raconn_core::soft_p256::SoftP256;
use raconn_embedded::ram_flash::RamFlash;
use raconn_embedded::soft_hsm::{SoftHsm, DEMO_RA_SCALAR};
use raconn_embedded::store::Store;

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
    let r = run().and_then(|()| embassy_futures::block_on(appliance()));
    heprintln!("stack high-water mark: {} bytes", stack::high_water(lo, hi));
    let code = match r {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(()) => debug::EXIT_FAILURE,
    };
    debug::exit(code);
    #[allow(clippy::empty_loop)]
    loop {}
}

fn run() -> Result<(), ()> {
    let key = SoftP256::from_bytes(&TEST_KEY).map_err(|e| hprintln!("key: {}", e))?;
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

/// The flash image: configuration, RA certificate, trust anchor, cached policy.
static IMAGE: &[u8] = include_bytes!("../flash.img");
const FLASH_SIZE: usize = 64 * 1024;

/// A board without a network interface.
struct NoNetwork;

/// The socket type such a board would have.
struct NoSocket;

impl embedded_io_async::ErrorType for NoSocket {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for NoSocket {
    async fn read(&mut self, _buf: &mut [u8]) -> Result<usize, Self::Error> {
        Err(embedded_io::ErrorKind::NotConnected)
    }
}

impl embedded_io_async::Write for NoSocket {
    async fn write(&mut self, _buf: &[u8]) -> Result<usize, Self::Error> {
        Err(embedded_io::ErrorKind::NotConnected)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Err(embedded_io::ErrorKind::NotConnected)
    }
}

impl Connect for NoNetwork {
    type Socket = NoSocket;
    async fn connect(&mut self, _host: &str, _port: u16) -> Result<NoSocket, EmbeddedError> {
        // Opaque to the optimiser, so the TLS path stays in the image.
        if core::hint::black_box(false) {
            Ok(NoSocket)
        } else {
            Err(EmbeddedError::Io)
        }
    }

    async fn wait(&mut self, _ms: u32) {}
}

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

/// A zeroed static buffer (`.bss`), handed out once.
macro_rules! buf {
    ($n:expr) => {{
        static mut B: [u8; $n] = [0; $n];
        // SAFETY: each expansion has its own static; `appliance` runs once.
        unsafe { &mut *core::ptr::addr_of_mut!(B) }
    }};
}

async fn appliance() -> Result<(), ()> {
    static mut FLASH: RamFlash<FLASH_SIZE> = RamFlash::zeroed();
    // SAFETY: the only reference to FLASH; `appliance` runs once.
    let flash = unsafe { &mut *core::ptr::addr_of_mut!(FLASH) };
    flash.load(IMAGE);
    let mut store =
        Store::new(flash, 0..FLASH_SIZE as u32).map_err(|e| heprintln!("store: {}", e))?;
    // The RA key as provisioned at manufacturing; the device key is made in slot 1.
    let mut hsm = SoftHsm::<2>::new(*b"raconn firmware demo seed 32 B!!");
    hsm.import_p256(0, &DEMO_RA_SCALAR)
        .map_err(|e| heprintln!("hsm: {:?}", e))?;
    let job = Job {
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
    let (tls_read, tls_write, reply) = (buf!(16640), buf!(4096), buf!(16384));
    let (request, work, token, record) = (buf!(8192), buf!(8192), buf!(8192), buf!(4096));
    let (cfg, ra, anchor, journal) = (buf!(6144), buf!(6144), buf!(6144), buf!(6144));
    let mut w = Work {
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
        journal,
    };
    let written = client::prepare_offline(&mut hsm, &mut store, &job, w.reborrow(), |r| {
        host_file("enroll-request.xml\0", r.body.as_bytes())
    })
    .await
    .map_err(|e| heprintln!("offline: {} — {}", e, e.remedy()))?;
    written.map_err(|()| heprintln!("cannot write enroll-request.xml on the host"))?;
    let mut spki = [0u8; 100];
    let n = hsm
        .public_key(1, &mut spki)
        .map_err(|e| heprintln!("hsm: {:?}", e))?
        .len();
    heprintln!(
        "offline: enrollment request for slot 1 ({} B key) written to enroll-request.xml",
        n
    );
    let mut cert = [0u8; 2048];
    match client::issue(
        &mut NoNetwork,
        &mut hsm,
        &mut store,
        &job,
        None,
        w,
        &mut cert,
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
