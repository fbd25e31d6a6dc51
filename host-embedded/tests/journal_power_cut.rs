//! The flash journal under a power cut at every byte written: a request's
//! core records (key made → sent, with the enrollment body → issued, with a
//! certificate and its chain) are written on
//! sequential-storage's mock NOR flash that stops after `n` bytes, for every
//! `n`; after the "reset" the journal reads back as one of the states that
//! were fully written — never a torn or corrupt record — and finishing the
//! sequence from there leaves the issued certificate readable.

use embassy_futures::block_on;
use raconn_core::issuance::record::{self, Chain, Record, RecordState};
use raconn_embedded::store::{Config, Store};
use sequential_storage::mock_flash::{MockFlashBase, WriteCountCheck};

type Flash = MockFlashBase<8, 4, 1024>;
const RANGE: core::ops::Range<u32> = 0..(8 * 4 * 1024);

const TX: &str = "raconn-0123456789abcdef01234567";
const BODY: &str = "<soapenv:Envelope>… the enrollment request …</soapenv:Envelope>";

/// The record bytes of `state` (the certificate and chain when issued).
fn rec(state: RecordState, cert: &[u8], chain: &[&[u8]]) -> Vec<u8> {
    let mut r = Record::new(state, [7; 32], "req-1");
    r.key_digest = Some([9; 32]);
    r.client_transaction_id = TX;
    r.key_ref = &[1];
    if state == RecordState::Sent {
        r.body = Some(BODY);
    }
    if state == RecordState::Issued {
        r.certificate = cert;
        r.chain = Chain::List(chain);
    }
    let mut out = vec![0u8; record::encoded_len(&r)];
    let n = record::encode(&r, &mut out).unwrap();
    out.truncate(n);
    out
}

const STATES: [RecordState; 3] = [RecordState::KeyMade, RecordState::Sent, RecordState::Issued];

/// Writes the states from `from` on; returns how far it got.
async fn write_from(store: &mut Store<Flash>, from: usize, cert: &[u8]) -> usize {
    let mut scratch = [0u8; 3000];
    let chain: [&[u8]; 1] = [&cert[..300]];
    for (i, s) in STATES.iter().enumerate().skip(from) {
        if store
            .set_journal("req-1", &rec(*s, cert, &chain), &mut scratch)
            .await
            .is_err()
        {
            return i;
        }
    }
    STATES.len()
}

async fn base() -> Flash {
    let mut store = Store::new(Flash::new(WriteCountCheck::OnceOnly, None, false), RANGE).unwrap();
    let mut scratch = [0u8; 3000];
    store
        .set_config(
            &Config {
                host: "pki-ws.symauth.com",
                port: 443,
                profile_oid: "2.16.840.1.113733.1.16.1.2.3.1.1.47196112",
                ra_slot: 0,
                device_slot: 1,
                max_fragment_length: None,
            },
            &mut scratch,
        )
        .await
        .unwrap();
    // Earlier traffic, so that the cuts also hit page changes and garbage collection.
    for i in 0..36 {
        let id = format!("old-{}", i % 6);
        store
            .set_journal(
                &id,
                &rec(RecordState::Issued, &[i as u8; 900], &[]),
                &mut scratch,
            )
            .await
            .unwrap();
    }
    store.into_flash()
}

#[test]
fn every_cut_point_recovers() {
    block_on(async {
        let cert: Vec<u8> = (0..700u32).map(|i| (i * 31 % 251) as u8).collect();
        let base = base().await;
        // Bytes an undisturbed sequence writes.
        let mut probe = base.clone();
        probe.bytes_until_shutoff = Some(u32::MAX);
        let mut s = Store::new(probe, RANGE).unwrap();
        assert_eq!(write_from(&mut s, 0, &cert).await, 3);
        let total = u32::MAX - s.into_flash().bytes_until_shutoff.unwrap();
        let mut seen = [0usize; 4];
        for cut in 0..=total {
            let mut f = base.clone();
            f.bytes_until_shutoff = Some(cut);
            let mut s = Store::new(f, RANGE).unwrap();
            write_from(&mut s, 0, &cert).await;
            // Reset.
            let mut f = s.into_flash();
            f.bytes_until_shutoff = None;
            let mut s = Store::new(f, RANGE).unwrap();
            let mut buf = [0u8; 3000];
            let got = s
                .journal("req-1", &mut buf)
                .await
                .unwrap_or_else(|e| panic!("cut at byte {cut}: {e}"));
            let next = match got {
                None => 0,
                Some(bytes) => {
                    let j = record::decode(bytes).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
                    assert_eq!(
                        (j.key_ref, j.client_transaction_id, j.fingerprint),
                        (&[1u8][..], TX, [7; 32]),
                        "cut {cut}"
                    );
                    let i = STATES.iter().position(|s| *s == j.state).unwrap();
                    match j.state {
                        RecordState::Issued => {
                            assert_eq!(j.certificate, &cert[..], "cut {cut}");
                            assert!(j.chain.iter().eq([&cert[..300]]), "cut {cut}");
                        }
                        RecordState::Sent => assert_eq!(j.body, Some(BODY), "cut {cut}"),
                        _ => assert!(j.certificate.is_empty() && j.body.is_none()),
                    }
                    i + 1
                }
            };
            seen[next] += 1;
            // The configuration survived too.
            let mut cb = [0u8; 3000];
            assert_eq!(s.config(&mut cb).await.unwrap().device_slot, 1, "cut {cut}");
            // Finish from where the journal stands.
            assert_eq!(write_from(&mut s, next, &cert).await, 3, "cut {cut}");
            let mut buf = [0u8; 3000];
            let b = s.journal("req-1", &mut buf).await.unwrap().unwrap();
            let j = record::decode(b).unwrap();
            assert_eq!((j.state, j.certificate), (RecordState::Issued, &cert[..]));
        }
        eprintln!(
            "{} cut points; journal found at: none {}, key made {}, sent {}, issued {}",
            total + 1,
            seen[0],
            seen[1],
            seen[2],
            seen[3]
        );
        assert!(seen.iter().all(|n| *n > 0), "{seen:?}");
    });
}
