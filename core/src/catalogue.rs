//! The error catalogue: every code raconn prints, with its message and
//! remedy, in one table below both hosts — the core's own codes (declared
//! beside their enums with [`crate::explain!`]), and the rows of the desktop
//! host (`RC-HOST`, `RC-CONF`, `RC-TLS`, and `RC-SVC` of `raconn serve`)
//! and of the appliance adapter
//! (`RC-EMB`), declared here so that `raconn explain` and an appliance's
//! logs read the same table while neither host depends on the other.
//!
//! A code is never reused for another meaning; a code that was folded into
//! another is listed in [`RENAMED`], and [`lookup`] follows it.

use crate::error::Code;

macro_rules! rows {
    ($(#[$m:meta])* $table:ident { $( $name:ident = ($c:literal, $msg:literal, $rem:literal), )* }) => {
        $( #[doc = $c] pub const $name: Code = Code::new($c, $msg, $rem); )*
        $(#[$m])*
        pub const $table: &[Code] = &[ $( $name, )* ];
    };
}

rows! {
    /// The desktop/server host's codes.
    HOST {
        HOST_READ = ("RC-HOST-001", "cannot read a file", "check the path and that this account may read it"),
        HOST_WRITE = ("RC-HOST-002", "cannot write a file", "check the directory exists, has free space and that this account may write it"),
        HOST_KEYGEN = ("RC-HOST-003", "key generation failed", "check the key algorithm and size; retry"),
        HOST_KEY_ENCODING = ("RC-HOST-004", "a private key cannot be read or written", "the key file is not an unencrypted PKCS#8 RSA, P-256 or P-384 key; restore it from backup or make a new request"),
        HOST_NO_MATCHING_KEY = ("RC-HOST-005", "no private key in the store matches the certificate", "accept the certificate into the store where `raconn ra new-request` made its key (--store / RACONN_STORE), or check it is the certificate issued for that request"),
        HOST_UNRECOGNISED = ("RC-HOST-006", "the file holds no certificate, CSR or PKCS#7 raconn recognises", "pass PEM (CERTIFICATE, CERTIFICATE REQUEST, NEW CERTIFICATE REQUEST, PKCS7) or DER"),
        HOST_SELF_CHECK = ("RC-HOST-007", "the request raconn made does not verify", "report this as a bug; the key or signer is faulty"),
        HOST_THUMBPRINT_NOT_FOUND = ("RC-HOST-008", "no certificate with that thumbprint in the store", "run `raconn ra list` to see the thumbprints present, with subject and expiry"),
        HOST_UNKNOWN_CODE = ("RC-HOST-009", "unknown error code", "run `raconn explain --all` for the list"),
        HOST_MISSING_OTHER_NAME = ("RC-HOST-011", "the profile asks for an other-name and none was given", "give --other-name OID=VALUE (hex, b64: or utf8:); other-names have no fallback"),
        HOST_PASSWORD = ("RC-HOST-012", "no usable PFX password", "give --password-file FILE or --password-env VAR with a non-empty password (an empty password with a MAC breaks macOS importers)"),
        HOST_NO_PROFILE = ("RC-HOST-013", "no such profile in the configuration", "use a profile name from the [profiles.NAME] tables of raconn.toml"),
        HOST_PFX = ("RC-HOST-014", "the PFX could not be written", "raconn checks the password, the name and the key before the request is sent, so this is found before the CA issues: report it with the key type and the profile's pfx setting"),
        HOST_TOKEN = ("RC-HOST-015", "the PKCS#11 token or Windows key store refused or failed", "check the module path and token label (`softhsm2-util --show-slots` or `pkcs11-tool -L` lists tokens), that RACONN_PKCS11_PIN holds the user PIN, and that the token has room; on Windows run as an administrator for LocalMachine\\My"),
        HOST_STORE_LOCATION = ("RC-HOST-016", "the store location is not a directory, a pkcs11: URI or windows:LocalMachine\\My", "give --store DIR, --store 'pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=LABEL' or --store 'windows:LocalMachine\\My'"),
        HOST_ISSUED_NOT_SAVED = ("RC-HOST-017", "the CA issued a certificate, but it could not be saved", "free disk space or fix the journal's permissions, then run the same request id again: it asks the CA (searchCertificate) for the certificate instead of enrolling again"),
        HOST_OUTPUT = ("RC-HOST-018", "the output cannot be written", "check where the output goes (a full disk, a closed pipe); for an issuance nothing was lost: the certificate is in the journal and a rerun with the same request id writes it again"),
        HOST_UNSAFE = ("RC-HOST-019", "a store or journal directory is not private: group or others may write it, or it is not a directory", "make it a directory only this account may write (chmod 700 PATH), as ssh insists for ~/.ssh"),
        HOST_BAD_SIGNATURE = ("RC-HOST-020", "the certificate's signature does not verify with its issuer's key", "the file was altered or is not the certificate the CA issued: download it again from PKI Manager"),
        HOST_NOT_UTF8 = ("RC-HOST-021", "a text input is not valid UTF-8", "save the file as UTF-8 (a password file: exactly the password, one line)"),
        HOST_NO_RECORD = ("RC-HOST-022", "the journal has no issued certificate for this request id", "revoke by --serial or --cert, or point `journal` in raconn.toml at the journal of the machine that issued it"),
        HOST_CA_CHAIN = ("RC-HOST-023", "the CA certificates in the policy do not chain to a self-signed root", "the detail names the break; check the profile's CA in PKI Manager, or take the root from DigiCert and check it with openssl verify"),
        HOST_RA_NOT_VALID = ("RC-HOST-024", "no configured RA certificate is valid now (expired or not yet valid)", "accept the renewed RA certificate (raconn ra renew, then ra accept) and add its thumbprint to ra_cert_thumbprint; check this machine's clock"),
        HOST_PFX_OPEN = ("RC-HOST-025", "the PFX cannot be opened: wrong password, or not a PKCS#12 file", "check the password (the one set when the certificate was exported) and that the file is the .pfx/.p12 export"),
        HOST_PFX_NO_MATCH = ("RC-HOST-026", "the PFX holds no private key that matches a certificate in it", "export the RA certificate again with its private key (MMC: Export, Yes, export the private key)"),
        HOST_NOT_CLIENT_AUTH = ("RC-HOST-027", "the RA certificate's Extended Key Usage has no clientAuth", "the CA refuses it for mutual TLS: import the RA certificate DigiCert issued for the connector, not another certificate"),
        SVC_PLAIN_HTTP = ("RC-SVC-001", "raconn serve refuses plain HTTP on an address other than loopback", "set tls_cert and tls_key in [service], or listen on 127.0.0.1 / [::1] behind a TLS-terminating proxy"),
        SVC_DATABASE = ("RC-SVC-002", "the service's database cannot be opened, migrated or queried", "check [service] database: for sqlite:FILE its directory must be writable; for postgres:// the server must be reachable and the user may create tables"),
        SVC_KEK = ("RC-SVC-003", "the key-encryption key file is missing, unsafe or not 32 bytes", "run `raconn serve --init` once to make it (0600); every instance on one database needs a copy of the same file"),
        SVC_BAD_BODY = ("RC-SVC-004", "the request is not valid", "fix the field named in the error (README lists the body's fields); nothing was queued"),
        SVC_CONFLICT = ("RC-SVC-005", "this request id was already used for a different request", "use a new request id for a new request; the same id with the same body returns the existing request"),
        SVC_NOT_FOUND = ("RC-SVC-006", "no request with this id", "check the request id; PUT /v1/requests/{id} creates it"),
        SVC_UNAUTHENTICATED = ("RC-SVC-007", "the caller is not authenticated", "send `Authorization: Bearer TOKEN` with a token `raconn token add NAME` printed, or a client certificate issued by client_ca"),
        SVC_TOO_LARGE = ("RC-SVC-008", "the request body is larger than 64 KiB", "send only the fields README lists; a certificate request body is well under 4 KiB"),
        SVC_NOT_ISSUED = ("RC-SVC-009", "the request has no certificate", "wait until GET shows state issued (Retry-After says when to ask again); a failed request gets none"),
        SVC_ALREADY_REVOKED = ("RC-SVC-010", "the request's certificate is already revoked, or its revocation is queued", "nothing to do; GET shows the state"),
        SVC_PFX_PURGED = ("RC-SVC-011", "the PFX was deleted after keep_issued_days", "issue again under a new request id, or raise keep_issued_days in [service]"),
        SVC_RETRIES_EXHAUSTED = ("RC-SVC-012", "retryable failures went on for retry.max_attempts attempts; the last one is in last_error", "fix what last_error names, then PUT the request again under a new id (or set retry.max_attempts = 0 to retry for ever)"),
        SVC_NOT_READY = ("RC-SVC-013", "the service is not ready", "the body names what is not ready: the database, the RA key, or the CA's status"),
        SVC_NO_AUTH = ("RC-SVC-014", "no way to authenticate callers is configured", "run `raconn token add NAME` to make a bearer token (stored as a hash in the tokens file)"),
        SVC_TOKEN_EXISTS = ("RC-SVC-015", "a token of that name exists", "choose another name, or remove its line from the tokens file first"),
        SVC_LEASE_LOST = ("RC-SVC-016", "another worker took this request over after its lease expired", "nothing to do: the other worker resumes from the record; raise lease_s if workers stall longer than it"),
        CONF_INVALID = ("RC-CONF-001", "the configuration file is invalid", "fix the key named in the error (file:line); README documents every key"),
        TLS_SETUP = ("RC-TLS-001", "TLS could not be set up", "check ca_trust holds PEM certificates and the RA certificate and key match"),
    }
}

rows! {
    /// The appliance adapter's codes.
    APPLIANCE {
        EMB_HSM = ("RC-EMB-001", "the secure element refused or failed", "check the slot holds a key of the expected type and the part is unlocked; provision the RA key slot again if it was erased"),
        EMB_TLS = ("RC-EMB-002", "the TLS handshake with the CA failed", "check the CA host and port, that the CA accepts TLS 1.3 with AES-GCM and secp256r1, and that the RA certificate in flash matches the key slot"),
        EMB_HOSTNAME = ("RC-EMB-003", "the CA's server certificate does not name the configured host", "set the CA host exactly as in its certificate (e.g. pki-ws.symauth.com); IP addresses must be in the certificate's SAN"),
        EMB_UNTRUSTED = ("RC-EMB-004", "the CA's server certificate does not chain to the stored trust anchor", "store the root that issued the CA's TLS certificate as the trust anchor"),
        EMB_EXPIRED = ("RC-EMB-005", "a certificate of the CA's chain is expired or not yet valid", "check the appliance clock; if it is right, the CA's certificate has expired"),
        EMB_BAD_SIGNATURE = ("RC-EMB-006", "a signature in the CA's chain or handshake does not verify", "the connection may be intercepted; check for a proxy doing TLS inspection"),
        EMB_UNSUPPORTED_KEY = ("RC-EMB-007", "the CA uses a key or signature algorithm the adapter does not verify", "supported: ECDSA P-256/P-384, RSA 2048-4096 PKCS#1 v1.5 and PSS"),
        EMB_BAD_SERVER_CERT = ("RC-EMB-008", "the CA's server certificate is not DER X.509", "check the host is the PKI Web Services endpoint"),
        EMB_BAD_ANCHOR = ("RC-EMB-009", "the stored trust anchor is not a DER X.509 certificate", "provision the root certificate again (DER)"),
        EMB_CHAIN_TOO_LONG = ("RC-EMB-010", "the CA sent a longer chain than the verifier takes", "the verifier follows at most 6 certificates from the server's to the trust anchor (and takes 16 in the handshake): store the intermediate closest to the server as the trust anchor, or report the CA's chain"),
        EMB_IO = ("RC-EMB-011", "the network connection failed or closed", "check the network path to the CA; the request is kept and retried with the same clientTransactionID"),
        EMB_STORAGE = ("RC-EMB-014", "flash storage failed", "check the flash range given to the store and the flash driver"),
        EMB_STORAGE_FULL = ("RC-EMB-015", "flash storage is full", "give the store more flash pages, or remove finished journal entries"),
        EMB_NOT_CONFIGURED = ("RC-EMB-016", "configuration, RA certificate or trust anchor missing in flash", "provision the appliance: configuration, RA certificate and trust anchor"),
        EMB_RECORD_TOO_BIG = ("RC-EMB-020", "a record is larger than one flash erase page can hold", "give the store a flash with larger erase pages (a cached policy reply needs 8 KiB pages), or store a shorter record"),
        EMB_RSA_CLIENT_KEY = ("RC-EMB-021", "the RA key is RSA: embedded-tls 0.19 without alloc sends only ECDSA client signatures (its CertificateVerify holds 104 bytes)", "put a P-256 RA key in the secure element (KeyAlgorithm = ECDSA_P256 in the RA request); RSA RA keys work with the desktop host"),
        EMB_CONFIG_CORRUPT = ("RC-EMB-022", "the configuration record in flash cannot be read", "provision the configuration again"),
        EMB_RA_KEY_MISMATCH = ("RC-EMB-023", "the RA certificate in flash is not for the key in the RA slot", "store the RA certificate issued for this part's RA key, or provision the RA key slot that certificate was issued for"),
        EMB_CONFIG_VERSION = ("RC-EMB-024", "the configuration record in flash has a format this release does not read", "provision the configuration again with this release, or run the release that wrote it"),
        EMB_CONFIG_VALUE_TOO_LONG = ("RC-EMB-025", "a configuration value is longer than 255 bytes", "use a CA host name and profile OID of at most 255 bytes each"),
        EMB_NOT_BUILT = ("RC-EMB-026", "the CA uses a curve this firmware was built without", "build raconn-embedded with the feature the detail names (p384, on by default): a firmware image leaves out what its CA's chain does not use"),
        EMB_TLS_RECORD_TOO_LARGE = ("RC-EMB-027", "the CA sent a TLS record larger than the TLS read buffer", "the CA does not honour the max_fragment_length in the configuration: remove it and give the TLS read buffer 16 640 bytes (any record fits)"),
        EMB_BAD_MFL = ("RC-EMB-028", "max_fragment_length must be 512, 1024, 2048 or 4096 (RFC 6066)", "set one of these, or none for 16 KiB records"),
    }
}

/// Codes folded into others: (old, new).
pub const RENAMED: &[(&str, &str)] = &[
    ("RC-HOST-010", "RC-TX-001"),
    ("RC-EMB-013", "RC-BUF-001"),
    ("RC-EMB-017", "RC-TX-001"),
    ("RC-EMB-018", "RC-TX-003"),
    ("RC-EMB-019", "RC-PKIWS-010"),
    ("RC-PKIWS-019", "RC-HTTP-001"),
    // The reference connector's "Failed to get client certificate": raconn
    // names the thumbprint it did not find (the appliance: RC-EMB-016).
    ("RC-PKIWS-004", "RC-HOST-008"),
    // Never produced: a file of another kind is RC-HOST-006 (desktop).
    ("RC-PEM-003", "RC-HOST-006"),
    // The appliance reads replies with the core's reader: RC-HTTP-….
    ("RC-EMB-012", "RC-HTTP-001"),
    ("RC-DER-001", "RC-BUF-001"),
    ("RC-XML-001", "RC-BUF-001"),
    ("RC-PEM-001", "RC-BUF-001"),
    ("RC-PROF-019", "RC-BUF-001"),
    ("RC-INF-013", "RC-BUF-001"),
    ("RC-SIGN-003", "RC-BUF-001"),
];

/// Every code: the core's, the host's, the appliance's.
pub fn all() -> impl Iterator<Item = &'static Code> {
    crate::error::CODES
        .iter()
        .flat_map(|t| t.iter())
        .chain(HOST.iter())
        .chain(APPLIANCE.iter())
}

/// Looks a code up (case-insensitive), following [`RENAMED`]; the second
/// value is the old code when it was renamed.
pub fn lookup(code: &str) -> Option<(&'static Code, Option<&'static str>)> {
    let code = code.trim();
    let find = |c: &str| all().find(|x| x.code.eq_ignore_ascii_case(c));
    if let Some(c) = find(code) {
        return Some((c, None));
    }
    let (old, new) = RENAMED
        .iter()
        .find(|(old, _)| old.eq_ignore_ascii_case(code))?;
    find(new).map(|c| (c, Some(*old)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn codes_are_unique_well_formed_and_renames_resolve() {
        let mut seen = std::vec::Vec::new();
        for c in all() {
            assert!(
                c.code.starts_with("RC-") && !c.message.is_empty() && !c.remedy.is_empty(),
                "{c:?}"
            );
            assert!(!seen.contains(&c.code), "{} twice", c.code);
            seen.push(c.code);
        }
        for (old, new) in RENAMED {
            assert!(!seen.contains(old), "{old} is both live and renamed");
            assert_eq!(lookup(old).unwrap().0.code, *new);
        }
        assert_eq!(lookup("rc-tx-001").unwrap().1, None);
    }
}
