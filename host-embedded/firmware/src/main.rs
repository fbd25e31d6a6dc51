//! Minimal appliance firmware for QEMU (mps2-an386, Cortex-M4F): builds and
//! signs a P-256 PKCS#10 request with raconn-core in stack buffers, prints it
//! as PEM over semihosting and exits. There is no `#[global_allocator]` and
//! the image is built with `-Zbuild-std=core`, so nothing in it can use
//! `alloc`. The key is a fixed test scalar (this image has no RNG); RFC 6979
//! makes the signature, and so the whole CSR, deterministic.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, heprintln, hprint, hprintln};
use panic_semihosting as _;
use raconn_embedded::raconn_core::csr::{CsrSpec, KeyUsageReq, SanSource};
use raconn_embedded::raconn_core::ext::GeneralName;
use raconn_embedded::raconn_core::oid;
use raconn_embedded::raconn_core::soft_p256::SoftP256;

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
    let r = run();
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
