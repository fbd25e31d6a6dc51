//! What the desktop host adds to a code's remedy: the core's remedies are
//! host-neutral (they run on an appliance too), so the `raconn` command,
//! raconn.toml key or option that carries them out is named here.

/// (code, hint) for codes whose remedy has a `raconn` way to act on it.
pub const HINTS: &[(&str, &str)] = &[
    ("RC-THUMB-001", "`raconn ra list` shows the thumbprints in the store"),
    ("RC-THUMB-002", "`raconn ra list` or `raconn thumbprint FILE` prints the thumbprint"),
    ("RC-THUMB-003", "`raconn thumbprint FILE` prints the certificate's thumbprint"),
    ("RC-THUMB-W01", "copy it from `raconn ra list`"),
    ("RC-XML-003", "`raconn inspect FILE` decodes a saved reply"),
    ("RC-XML-007", "`raconn inspect FILE` decodes a saved reply"),
    ("RC-PKIWS-001", "`raconn inspect FILE` decodes a saved reply"),
    ("RC-PKIWS-002", "the timeout is ca_timeout_ms in raconn.toml"),
    ("RC-PKIWS-005", "the OID is the profile's certificate_template; `raconn policy PROFILE` shows what the CA returns"),
    ("RC-PKIWS-006", "the OID is the profile's certificate_template"),
    ("RC-PKIWS-007", "`raconn policy PROFILE` lists the profile's fields; compare them with subject_name_format and subject_alternative_names"),
    ("RC-PKIWS-015", "`raconn policy PROFILE` lists the profile's fields"),
    ("RC-PKIWS-016", "`raconn policy PROFILE` shows the key; leave the profile's `key` unset to follow the policy"),
    ("RC-PKIWS-021", "the host is the profile's certification_authority"),
    ("RC-PKIWS-022", "the host and port are the profile's certification_authority"),
    ("RC-CHECK-001", "the request's fields are subject_name_format and subject_alternative_names in raconn.toml"),
    ("RC-CHECK-004", "set it in the profile's names table, e.g. names = { \"otherName.1.3.6.1.4.1.311.25.1\" = \"custom_encode_dsObjectGuid\" }"),
    ("RC-TX-010", "the profile's `key` in raconn.toml: rsa-2048, rsa-3072, rsa-4096, p256 or p384"),
    ("RC-INF-W01", "the store is --store, $RACONN_STORE or raconn.toml's store"),
];

/// The desktop's hint for `code`, if it has one.
pub fn hint(code: &str) -> Option<&'static str> {
    HINTS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, h)| *h)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_hint_is_for_a_code_of_the_catalogue() {
        for (c, _) in super::HINTS {
            assert!(
                raconn_core::catalogue::lookup(c)
                    .is_some_and(|(r, old)| r.code == *c && old.is_none()),
                "{c}"
            );
        }
    }
}
