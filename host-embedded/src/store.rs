//! Flash storage for the appliance: configuration, the RA certificate, the
//! trust anchor and the issuance journal, in one `sequential-storage` map
//! over any `embedded-storage-async` NOR flash (power-fail safe: an item is
//! either fully written or ignored after a reset; CRC-checked).
//!
//! The configuration is a versioned byte string (first byte = format version 1):
//!
//! ```text
//! config   : 1, host_len, host, port(be16), oid_len, oid, ra_slot, device_slot
//! ```
//! The journal holds the core's issuance records as they are
//! ([`raconn_core::issuance::record`]; version 1 records of raconn-embedded
//! 0.1 are read by the core too), keyed by `J` followed by the first 15
//! bytes of SHA-256 of the request id, so any id fits a fixed 16-byte key.

use embedded_storage_async::nor_flash::NorFlash;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage};
use sha2::Digest;

use raconn_core::buf::SliceWriter;
use raconn_core::error::BufferTooSmall;

use crate::error::EmbeddedError;

/// Map key.
pub type Key = [u8; 16];

const K_CONFIG: Key = *b"raconn/config\0\0\0";
const K_RA_CERT: Key = *b"raconn/ra-cert\0\0";
const K_ANCHOR: Key = *b"raconn/anchor\0\0\0";
const K_POLICY: Key = *b"raconn/policy\0\0\0";

type Map<F> = MapStorage<Key, F, Cache<Uncached, Uncached, Uncached, Key>>;

/// The appliance configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config<'a> {
    /// CA host name (checked against the server certificate).
    pub host: &'a str,
    /// CA port.
    pub port: u16,
    /// The DigiCert certificate-profile OID.
    pub profile_oid: &'a str,
    /// HSM slot of the RA key.
    pub ra_slot: u8,
    /// HSM slot for the device key.
    pub device_slot: u8,
    /// RFC 6066 max_fragment_length to offer the CA: 512, 1 024, 2 048 or
    /// 4 096 bytes of plaintext per record, or `None` (records of up to
    /// 16 KiB). Only for a CA that honours it: it lets the TLS read buffer
    /// shrink from 16 640 to the length + 256 bytes
    /// ([`crate::client::tls_read_needed`]).
    pub max_fragment_length: Option<u16>,
}

/// The largest configuration record: format byte, host and profile OID
/// of up to 255 bytes each with their length bytes, port, two slots and
/// the max_fragment_length code.
pub const CONFIG_MAX: usize = 1 + 1 + 255 + 2 + 1 + 255 + 2 + 1;

/// The RFC 6066 code of a max_fragment_length (1..=4 for 2^9..=2^12).
fn mfl_code(n: u16) -> Option<u8> {
    match n {
        512 => Some(1),
        1024 => Some(2),
        2048 => Some(3),
        4096 => Some(4),
        _ => None,
    }
}

fn flash_err<E>(e: sequential_storage::Error<E>) -> EmbeddedError {
    match e {
        sequential_storage::Error::FullStorage => EmbeddedError::StorageFull,
        sequential_storage::Error::ItemTooBig => EmbeddedError::RecordTooBig,
        sequential_storage::Error::BufferTooSmall(n) => EmbeddedError::Buffer(BufferTooSmall {
            buffer: "flash scratch",
            needed: n,
        }),
        _ => EmbeddedError::Storage,
    }
}

/// The key of a request id's journal record.
pub fn journal_key(request_id: &str) -> Key {
    let d = sha2::Sha256::digest(request_id.as_bytes());
    let mut k = [0u8; 16];
    k[0] = b'J';
    for (dst, src) in k.iter_mut().skip(1).zip(d.iter()) {
        *dst = *src;
    }
    k
}

struct R<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl<'b> R<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], EmbeddedError> {
        let s = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or(EmbeddedError::ConfigCorrupt)?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, EmbeddedError> {
        self.take(1)?
            .first()
            .copied()
            .ok_or(EmbeddedError::ConfigCorrupt)
    }
    fn u16(&mut self) -> Result<u16, EmbeddedError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }
    fn str8(&mut self) -> Result<&'b str, EmbeddedError> {
        let n = usize::from(self.u8()?);
        core::str::from_utf8(self.take(n)?).map_err(|_| EmbeddedError::ConfigCorrupt)
    }
}

fn len8(s: &str) -> Result<u8, EmbeddedError> {
    u8::try_from(s.len()).map_err(|_| EmbeddedError::ConfigValueTooLong { len: s.len() })
}

/// Encodes a config record.
pub fn encode_config(c: &Config<'_>, out: &mut [u8]) -> Result<usize, EmbeddedError> {
    let mut w = SliceWriter::new(out);
    w.put(&[1, len8(c.host)?]);
    w.put(c.host.as_bytes());
    w.put(&c.port.to_be_bytes());
    w.put(&[len8(c.profile_oid)?]);
    w.put(c.profile_oid.as_bytes());
    w.put(&[c.ra_slot, c.device_slot]);
    // Format 1 ends here; a trailing byte, when present, is the RFC 6066
    // max_fragment_length code (records written without it stay as before).
    if let Some(n) = c.max_fragment_length {
        w.put(&[mfl_code(n).ok_or(EmbeddedError::BadMaxFragmentLength { value: n })?]);
    }
    Ok(w.finish("config record")?.len())
}

/// Decodes a config record.
pub fn decode_config(b: &[u8]) -> Result<Config<'_>, EmbeddedError> {
    let mut r = R { buf: b, pos: 0 };
    match r.u8()? {
        1 => {}
        found => return Err(EmbeddedError::ConfigVersion { found }),
    }
    let host = r.str8()?;
    let port = r.u16()?;
    let profile_oid = r.str8()?;
    let ra_slot = r.u8()?;
    let device_slot = r.u8()?;
    let max_fragment_length = match r.buf.get(r.pos..) {
        None | Some([]) => None,
        Some([code @ 1..=4]) => Some(256u16 << code),
        Some(_) => return Err(EmbeddedError::ConfigCorrupt),
    };
    Ok(Config {
        host,
        port,
        profile_oid,
        ra_slot,
        device_slot,
        max_fragment_length,
    })
}

/// The appliance's flash store.
pub struct Store<F: NorFlash> {
    map: Map<F>,
}

impl<F: NorFlash> Store<F> {
    /// A store over `flash_range` of `flash` (at least 2 erase pages).
    pub fn new(flash: F, flash_range: core::ops::Range<u32>) -> Result<Self, EmbeddedError> {
        let cfg = MapConfig::try_new(flash_range).map_err(|_| EmbeddedError::Storage)?;
        Ok(Store {
            map: MapStorage::new(flash, cfg, Cache::new_uncached()),
        })
    }

    /// Gives the flash back (for tests that simulate a reset).
    pub fn into_flash(self) -> F {
        self.map.destroy().0
    }

    async fn put(
        &mut self,
        key: &Key,
        value: &[u8],
        scratch: &mut [u8],
    ) -> Result<(), EmbeddedError> {
        self.map
            .store_item(scratch, key, &value)
            .await
            .map_err(flash_err)
    }

    async fn get<'d>(
        &mut self,
        key: &Key,
        scratch: &'d mut [u8],
    ) -> Result<Option<&'d [u8]>, EmbeddedError> {
        self.map
            .fetch_item::<&[u8]>(scratch, key)
            .await
            .map_err(flash_err)
    }

    /// Reads `key` through `scratch` (which must hold the largest item in
    /// the store: sequential-storage reads every item it passes whole) and
    /// copies it into `out`, which need only fit this item — so a long-lived
    /// value does not pin a scratch-sized buffer.
    async fn get_into<'d>(
        &mut self,
        key: &Key,
        what: &'static str,
        scratch: &mut [u8],
        out: &'d mut [u8],
    ) -> Result<Option<&'d [u8]>, EmbeddedError> {
        let Some(b) = self.get(key, scratch).await? else {
            return Ok(None);
        };
        let n = b.len();
        let dst = out
            .get_mut(..n)
            .ok_or(EmbeddedError::Buffer(BufferTooSmall {
                buffer: what,
                needed: n,
            }))?;
        dst.copy_from_slice(b);
        Ok(Some(dst))
    }

    /// Reads the configuration through `scratch` into `out` ([`CONFIG_MAX`]
    /// bytes hold any).
    pub async fn config_into<'d>(
        &mut self,
        scratch: &mut [u8],
        out: &'d mut [u8],
    ) -> Result<Config<'d>, EmbeddedError> {
        let b = self
            .get_into(&K_CONFIG, "configuration", scratch, out)
            .await?
            .ok_or(EmbeddedError::NotConfigured)?;
        decode_config(b)
    }

    /// Reads the RA certificate through `scratch` into `out`.
    pub async fn ra_cert_into<'d>(
        &mut self,
        scratch: &mut [u8],
        out: &'d mut [u8],
    ) -> Result<&'d [u8], EmbeddedError> {
        self.get_into(&K_RA_CERT, "RA certificate", scratch, out)
            .await?
            .ok_or(EmbeddedError::NotConfigured)
    }

    /// Reads the trust anchor through `scratch` into `out`.
    pub async fn anchor_into<'d>(
        &mut self,
        scratch: &mut [u8],
        out: &'d mut [u8],
    ) -> Result<&'d [u8], EmbeddedError> {
        self.get_into(&K_ANCHOR, "trust anchor", scratch, out)
            .await?
            .ok_or(EmbeddedError::NotConfigured)
    }

    /// Stores the configuration.
    pub async fn set_config(
        &mut self,
        c: &Config<'_>,
        scratch: &mut [u8],
    ) -> Result<(), EmbeddedError> {
        let mut rec = [0u8; CONFIG_MAX];
        let n = encode_config(c, &mut rec)?;
        self.put(&K_CONFIG, rec.get(..n).unwrap_or(&[]), scratch)
            .await
    }

    /// Reads the configuration into `scratch`.
    pub async fn config<'d>(&mut self, scratch: &'d mut [u8]) -> Result<Config<'d>, EmbeddedError> {
        let b = self
            .get(&K_CONFIG, scratch)
            .await?
            .ok_or(EmbeddedError::NotConfigured)?;
        decode_config(b)
    }

    /// Stores the RA certificate (DER).
    pub async fn set_ra_cert(
        &mut self,
        der: &[u8],
        scratch: &mut [u8],
    ) -> Result<(), EmbeddedError> {
        self.put(&K_RA_CERT, der, scratch).await
    }

    /// Reads the RA certificate into `scratch`.
    pub async fn ra_cert<'d>(&mut self, scratch: &'d mut [u8]) -> Result<&'d [u8], EmbeddedError> {
        self.get(&K_RA_CERT, scratch)
            .await?
            .ok_or(EmbeddedError::NotConfigured)
    }

    /// Stores the trust anchor (DER).
    pub async fn set_anchor(
        &mut self,
        der: &[u8],
        scratch: &mut [u8],
    ) -> Result<(), EmbeddedError> {
        self.put(&K_ANCHOR, der, scratch).await
    }

    /// Reads the trust anchor into `scratch`.
    pub async fn anchor<'d>(&mut self, scratch: &'d mut [u8]) -> Result<&'d [u8], EmbeddedError> {
        self.get(&K_ANCHOR, scratch)
            .await?
            .ok_or(EmbeddedError::NotConfigured)
    }

    /// Caches the profile's policy reply (the getPoliciesResponse body), so
    /// an enrollment request can be prepared without the network.
    pub async fn set_policy(
        &mut self,
        reply: &[u8],
        scratch: &mut [u8],
    ) -> Result<(), EmbeddedError> {
        self.put(&K_POLICY, reply, scratch).await
    }

    /// Reads the cached policy reply into `scratch`.
    pub async fn policy<'d>(&mut self, scratch: &'d mut [u8]) -> Result<&'d [u8], EmbeddedError> {
        self.get(&K_POLICY, scratch)
            .await?
            .ok_or(EmbeddedError::NotConfigured)
    }

    /// Writes the record of `request_id` (the core's issuance record bytes).
    pub async fn set_journal(
        &mut self,
        request_id: &str,
        record: &[u8],
        scratch: &mut [u8],
    ) -> Result<(), EmbeddedError> {
        self.put(&journal_key(request_id), record, scratch).await
    }

    /// Reads the record of `request_id` into `scratch`.
    pub async fn journal<'d>(
        &mut self,
        request_id: &str,
        scratch: &'d mut [u8],
    ) -> Result<Option<&'d [u8]>, EmbeddedError> {
        self.get(&journal_key(request_id), scratch).await
    }
}
