//! raconn-host: the desktop/server host of raconn — key store, files, CLI.
//! The wire formats and rules live in `raconn-core`; this crate only moves
//! bytes, holds keys and talks to the user.

pub mod cacerts;
pub mod cli;
pub mod config;
pub mod errors;
pub mod files;
pub mod hints;
pub mod inspect;
pub mod issue;
pub mod journal;
pub mod keys;
pub mod pfx;
pub mod pkcs11;
pub mod proxy;
pub mod revoke;
pub mod serve;
pub mod soap;
pub mod store;
pub mod tls;
#[cfg(windows)]
pub mod winstore;
