//! Object identifiers raconn uses, and their display names.
//!
//! Values from RFC 5280 (§4.2.1), RFC 4519 / X.520 (attribute types),
//! RFC 2985 (PKCS#9), RFC 5652 (CMS), RFC 8017 / RFC 5758 (signature
//! algorithms) and Microsoft's `[MS-WCCE]` (UPN, DS object GUID, SID).

pub use const_oid::ObjectIdentifier as Oid;

macro_rules! oids {
    ($( $(#[$m:meta])* $name:ident = $s:literal, $label:literal; )*) => {
        $( $(#[$m])* pub const $name: Oid = Oid::new_unwrap($s); )*
        /// Human label of a known OID.
        pub fn label(oid: &Oid) -> Option<&'static str> {
            $( if *oid == $name { return Some($label); } )*
            None
        }
    };
}

oids! {
    /// id-at-commonName
    CN = "2.5.4.3", "commonName";
    /// id-at-surname
    SURNAME = "2.5.4.4", "surname";
    /// id-at-serialNumber
    SERIAL_NUMBER = "2.5.4.5", "serialNumber";
    /// id-at-countryName
    COUNTRY = "2.5.4.6", "countryName";
    /// id-at-localityName
    LOCALITY = "2.5.4.7", "localityName";
    /// id-at-stateOrProvinceName
    STATE = "2.5.4.8", "stateOrProvinceName";
    /// id-at-streetAddress
    STREET = "2.5.4.9", "streetAddress";
    /// id-at-organizationName
    ORG = "2.5.4.10", "organizationName";
    /// id-at-organizationalUnitName
    ORG_UNIT = "2.5.4.11", "organizationalUnitName";
    /// id-at-title
    TITLE = "2.5.4.12", "title";
    /// id-at-description
    DESCRIPTION = "2.5.4.13", "description";
    /// id-at-postalCode
    POSTAL_CODE = "2.5.4.17", "postalCode";
    /// id-at-givenName
    GIVEN_NAME = "2.5.4.42", "givenName";
    /// id-at-initials
    INITIALS = "2.5.4.43", "initials";
    /// PKCS#9 emailAddress
    EMAIL = "1.2.840.113549.1.9.1", "emailAddress";
    /// domainComponent
    DC = "0.9.2342.19200300.100.1.25", "domainComponent";
    /// userId
    UID = "0.9.2342.19200300.100.1.1", "userId";
    /// PKCS#9 extensionRequest
    EXTENSION_REQUEST = "1.2.840.113549.1.9.14", "extensionRequest";
    /// id-ce-subjectKeyIdentifier
    SUBJECT_KEY_ID = "2.5.29.14", "subjectKeyIdentifier";
    /// id-ce-keyUsage
    KEY_USAGE = "2.5.29.15", "keyUsage";
    /// id-ce-subjectAltName
    SUBJECT_ALT_NAME = "2.5.29.17", "subjectAltName";
    /// id-ce-basicConstraints
    BASIC_CONSTRAINTS = "2.5.29.19", "basicConstraints";
    /// id-ce-extKeyUsage
    EXT_KEY_USAGE = "2.5.29.37", "extKeyUsage";
    /// id-ce-authorityKeyIdentifier
    AUTHORITY_KEY_ID = "2.5.29.35", "authorityKeyIdentifier";
    /// id-kp-serverAuth
    KP_SERVER_AUTH = "1.3.6.1.5.5.7.3.1", "serverAuth";
    /// id-kp-clientAuth
    KP_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2", "clientAuth";
    /// id-kp-codeSigning
    KP_CODE_SIGNING = "1.3.6.1.5.5.7.3.3", "codeSigning";
    /// id-kp-emailProtection
    KP_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4", "emailProtection";
    /// Microsoft smart-card logon
    KP_SMARTCARD_LOGON = "1.3.6.1.4.1.311.20.2.2", "smartcardLogon";
    /// Microsoft Encrypting File System
    KP_EFS = "1.3.6.1.4.1.311.10.3.4", "encryptingFileSystem";
    /// Microsoft UPN other-name (`[MS-WCCE]`)
    UPN = "1.3.6.1.4.1.311.20.2.3", "UPN";
    /// Microsoft DS object GUID other-name
    DS_OBJECT_GUID = "1.3.6.1.4.1.311.25.1", "DS Object GUID";
    /// Microsoft NTDS CA security extension (SID), KB5014754
    NTDS_CA_SECURITY_EXT = "1.3.6.1.4.1.311.25.2", "NTDS CA Security Extension";
    /// szOID_NTDS_OBJECTSID: the other-name inside the SID extension
    NTDS_OBJECTSID = "1.3.6.1.4.1.311.25.2.1", "SID";
    /// rsaEncryption
    RSA_ENCRYPTION = "1.2.840.113549.1.1.1", "rsaEncryption";
    /// sha256WithRSAEncryption
    SHA256_WITH_RSA = "1.2.840.113549.1.1.11", "sha256WithRSAEncryption";
    /// id-RSASSA-PSS (RFC 4055)
    RSASSA_PSS = "1.2.840.113549.1.1.10", "rsassa-pss";
    /// id-mgf1 (RFC 8017)
    MGF1 = "1.2.840.113549.1.1.8", "mgf1";
    /// id-sha256
    SHA256 = "2.16.840.1.101.3.4.2.1", "sha256";
    /// id-sha384
    SHA384 = "2.16.840.1.101.3.4.2.2", "sha384";
    /// sha384WithRSAEncryption
    SHA384_WITH_RSA = "1.2.840.113549.1.1.12", "sha384WithRSAEncryption";
    /// sha512WithRSAEncryption
    SHA512_WITH_RSA = "1.2.840.113549.1.1.13", "sha512WithRSAEncryption";
    /// sha1WithRSAEncryption
    SHA1_WITH_RSA = "1.2.840.113549.1.1.5", "sha1WithRSAEncryption";
    /// RSASSA-PSS
    RSA_PSS = "1.2.840.113549.1.1.10", "rsassaPss";
    /// id-ecPublicKey
    EC_PUBLIC_KEY = "1.2.840.10045.2.1", "id-ecPublicKey";
    /// secp256r1
    SECP256R1 = "1.2.840.10045.3.1.7", "prime256v1";
    /// secp384r1
    SECP384R1 = "1.3.132.0.34", "secp384r1";
    /// ecdsa-with-SHA256
    ECDSA_SHA256 = "1.2.840.10045.4.3.2", "ecdsa-with-SHA256";
    /// ecdsa-with-SHA384
    ECDSA_SHA384 = "1.2.840.10045.4.3.3", "ecdsa-with-SHA384";
    /// Ed25519
    ED25519 = "1.3.101.112", "ED25519";
    /// CMS signedData
    SIGNED_DATA = "1.2.840.113549.1.7.2", "signedData";
    /// CMS data
    DATA = "1.2.840.113549.1.7.1", "data";
    /// Arc of DigiCert (ex-VeriSign) certificate-profile OIDs.
    DIGICERT_ARC = "2.16.840.1.113733", "VeriSign/DigiCert";
}

/// Writes a dotted OID into a `fmt::Write`.
pub fn write_dotted<W: core::fmt::Write>(w: &mut W, oid: &Oid) -> core::fmt::Result {
    write!(w, "{oid}")
}
