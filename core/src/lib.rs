//! # raconn-core
//!
//! The `no_std`, no-alloc, panic-free core of raconn, a Registration
//! Authority connector for the DigiCert (ex-Symantec/VeriSign) PKI Platform.
//!
//! Contract: no `alloc` anywhere in the dependency graph (CI builds it with
//! `-Zbuild-std=core`), no `unsafe`, no panics (clippy denies `unwrap`,
//! `expect`, `panic!`, unchecked indexing, `todo!`), no I/O. Output goes
//! into caller buffers; a short buffer is an error carrying the size needed.
//!
//! | module | holds |
//! |---|---|
//! | [`asn1`] | DER writer and zero-copy reader (X.690) |
//! | [`oid`] | OIDs and their names |
//! | [`name`] | subject strings ⇄ DER `Name` |
//! | [`ext`] | KeyUsage, EKU, SAN (UPN, GUID, other-name), BasicConstraints |
//! | [`spki`] | SubjectPublicKeyInfo view |
//! | [`csr`] | PKCS#10 (RFC 2986) builder, [`csr::Signer`] seam, CSR view |
//! | [`pem`] | PEM (RFC 7468) |
//! | [`inf`] | certreq.ini |
//! | [`cert`] | X.509 certificate and PKCS#7 certs-only views |
//! | [`thumbprint`] | SHA-1/SHA-256 thumbprints, tolerant parsing |
//! | [`profile`] | the reference connector's PKCS profile rules |
//! | [`xml`] | XML writer into caller buffers, lenient bounded reader |
//! | [`pkiws`] | PKI Web Services: getPolicies, RequestSecurityToken, searchCertificate, faults |
//! | [`http`] | HTTP/1.1 request head and the sans-IO reply reader |
//! | [`engine`] | the protocol steps of one issuance (policy, pre-send check, enrollment) |
//! | [`issuance`] | the whole issuance transaction: records, resume, retries |
//! | [`error`] | one `Error` with stable codes and remedies |
//! | [`catalogue`] | every code of every crate, for `raconn explain` |
#![no_std]
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::todo,
    clippy::unimplemented,
    clippy::unreachable
)]

#[cfg(test)]
#[macro_use]
extern crate std;

pub mod error;

pub mod catalogue;

pub mod asn1;
pub mod buf;
pub mod cert;
pub mod csr;
pub mod engine;
pub mod ext;
pub mod hex;
pub mod http;
pub mod inf;
pub mod issuance;
pub mod name;
pub mod oid;
pub mod pem;
pub mod pkiws;
pub mod profile;
pub mod sig;
#[cfg(feature = "p256")]
pub mod soft_p256;
pub mod spki;
pub mod thumbprint;
pub mod xml;

pub use error::{Error, Explain};
