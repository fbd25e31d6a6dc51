//! Makes the QEMU firmware's flash image (`firmware/flash.img`): the
//! appliance configuration, an RA certificate for the demo RA key, the trust
//! anchor and a cached policy reply for the P-256 device profile, all from
//! raconn-sim, written through the same `Store` the firmware reads with.
//!
//! `cargo run -p raconn-embedded --example flash_image -- host-embedded/firmware/flash.img`

use raconn_core::pkiws::{policy, ACTION_POLICY, PATH_POLICY};
use raconn_embedded::hsm::SlotKey;
use raconn_embedded::ram_flash::RamFlash;
use raconn_embedded::soft_hsm::{SoftHsm, DEMO_RA_SCALAR};
use raconn_embedded::store::{Config, Store};
use raconn_sim::{Profiles, ServerKey, Sim};

/// The firmware's flash image size.
const SIZE: usize = 64 * 1024;
const PROFILE: &str = "2.16.840.1.113733.1.16.1.2.3.1.1.47196112";

fn main() {
    let out = std::env::args().nth(1).expect("usage: flash_image OUT.img");
    let sim = Sim::new(Profiles::default_set(), ServerKey::P256).expect("sim");
    // The RA key as provisioned into the part at manufacturing (demo scalar).
    let mut hsm = SoftHsm::<2>::new([0; 32]);
    hsm.import_p256(0, &DEMO_RA_SCALAR).expect("import");
    let key = SlotKey::new(&hsm, 0).expect("slot");
    let mut der = [0u8; 1024];
    let csr = raconn_core::csr::build(
        &raconn_core::csr::CsrSpec::new("CN=raconn appliance RA"),
        &key,
        &mut der,
    )
    .expect("csr");
    let ra = sim.pki.issue_ra(csr, 1).expect("ra cert");
    let mut req = [0u8; 4096];
    let body = policy::write_request(Some("raconn-image-policy"), &[PROFILE], &mut req)
        .expect("policy request");
    let reply = sim.handle(PATH_POLICY, ACTION_POLICY, body.as_bytes());
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    embassy_futures::block_on(async {
        let mut store = Store::new(RamFlash::<SIZE>::new(), 0..SIZE as u32).expect("store");
        let mut scratch = vec![0u8; 8192];
        store
            .set_config(
                &Config {
                    host: "pki-ws.symauth.com",
                    port: 443,
                    profile_oid: PROFILE,
                    ra_slot: 0,
                    device_slot: 1,
                },
                &mut scratch,
            )
            .await
            .expect("config");
        store.set_ra_cert(&ra, &mut scratch).await.expect("ra");
        store
            .set_anchor(&sim.pki.root.der, &mut scratch)
            .await
            .expect("anchor");
        store
            .set_policy(&reply.body, &mut scratch)
            .await
            .expect("policy");
        let img = store.into_flash();
        std::fs::write(&out, img.as_bytes()).expect("write image");
        eprintln!(
            "{out}: {SIZE} bytes (config, RA certificate {} B, anchor {} B, policy reply {} B)",
            ra.len(),
            sim.pki.root.der.len(),
            reply.body.len()
        );
    });
}
