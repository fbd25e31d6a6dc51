//! Makes the QEMU firmware's built-in flash image (`firmware/flash.img`):
//! the appliance configuration (CA `pki-ws.symauth.com:443`), an RA
//! certificate for the demo RA key, the trust anchor and a cached policy
//! reply for the P-256 device profile, all from a fresh raconn-sim.
//!
//! `cargo run -p raconn-tests --example flash_image -- host-embedded/firmware/flash.img`

use raconn_sim::{Profiles, ServerKey, Sim};

/// The firmware's flash image size.
const SIZE: usize = 64 * 1024;

fn main() {
    let out = std::env::args().nth(1).expect("usage: flash_image OUT.img");
    let sim = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    let img = raconn_tests::appliance_flash_image(&sim, "pki-ws.symauth.com", 443, SIZE);
    std::fs::write(&out, &img).expect("write image");
    eprintln!("{out}: {} bytes", img.len());
}
