//! The simulator's CA: a root, an issuing CA for end-entity certificates, an
//! RA-issuing CA for RA certificates, a TLS server certificate for
//! localhost / 127.0.0.1 — all made with rcgen — and issuance from a
//! PKCS#10 parsed with x509-parser (independently of raconn-core). The SAN
//! extension of the request is copied byte for byte; the subject keeps each
//! attribute's string type. PKCS#7 certs-only bundles are written here by hand.

use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
    SubjectPublicKeyInfo,
};
use x509_parser::prelude::{FromDer, X509CertificationRequest};

/// Server key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKey {
    /// RSA 2048 (what public CA endpoints usually present).
    Rsa2048,
    /// ECDSA P-256.
    P256,
}

/// One CA: certificate and signing identity.
pub struct Ca {
    /// DER of the CA certificate.
    pub der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

/// All the simulator's keys and certificates.
pub struct Pki {
    /// Root for the end-entity chain and the server certificate.
    pub root: Ca,
    /// Issues users' and devices' certificates.
    pub issuing: Ca,
    /// Issues RA certificates (the TLS client trust anchor).
    pub ra_ca: Ca,
    /// Server certificate (DER) and key (PKCS#8 DER).
    pub server_cert: Vec<u8>,
    /// Server private key, PKCS#8 DER.
    pub server_key: Vec<u8>,
}

fn ca_params(cn: &str, days: i64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "raconn-sim test PKI (throwaway)");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(days);
    p
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

impl Pki {
    /// Makes a fresh PKI.
    pub fn new(server_key: ServerKey) -> Result<Pki, String> {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let root_params = ca_params("raconn-sim Root CA", 3650);
        let root_der = root_params
            .self_signed(&root_key)
            .map_err(err)?
            .der()
            .to_vec();
        let root = Ca {
            der: root_der,
            issuer: Issuer::new(root_params, root_key),
        };
        let sub = |cn: &str| -> Result<Ca, String> {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
            let mut params = ca_params(cn, 1825);
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            let der = params
                .signed_by(&key, &root.issuer)
                .map_err(err)?
                .der()
                .to_vec();
            Ok(Ca {
                der,
                issuer: Issuer::new(params, key),
            })
        };
        let issuing = sub("raconn-sim Issuing CA")?;
        let ra_ca = sub("raconn-sim RA CA")?;
        let alg = match server_key {
            ServerKey::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
            ServerKey::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        };
        let skey = KeyPair::generate_for(alg).map_err(err)?;
        let mut sp = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .map_err(err)?;
        sp.distinguished_name.push(DnType::CommonName, "localhost");
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        sp.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let now = OffsetDateTime::now_utc();
        sp.not_before = now - Duration::days(1);
        sp.not_after = now + Duration::days(365);
        let server_cert = sp
            .signed_by(&skey, &root.issuer)
            .map_err(err)?
            .der()
            .to_vec();
        Ok(Pki {
            root,
            issuing,
            ra_ca,
            server_cert,
            server_key: skey.serialize_der(),
        })
    }

    /// Issues an end-entity certificate for a PKCS#10 (client auth + e-mail protection).
    pub fn issue(
        &self,
        csr_der: &[u8],
        validity_days: u32,
        serial: u64,
    ) -> Result<Vec<u8>, String> {
        self.issue_at(csr_der, validity_days, serial, 0)
    }

    /// As [`Pki::issue`], by a CA whose clock is `offset_secs` ahead (or,
    /// negative, behind) of this machine's.
    pub fn issue_at(
        &self,
        csr_der: &[u8],
        validity_days: u32,
        serial: u64,
        offset_secs: i64,
    ) -> Result<Vec<u8>, String> {
        let (params, spki) = params_from_csr(csr_der, validity_days, serial, false, offset_secs)?;
        Ok(params
            .signed_by(&spki, &self.issuing.issuer)
            .map_err(err)?
            .der()
            .to_vec())
    }

    /// Signs an RA certificate request (clientAuth, digitalSignature + keyEncipherment).
    pub fn issue_ra(&self, csr_der: &[u8], serial: u64) -> Result<Vec<u8>, String> {
        self.sign(csr_der, &self.ra_ca, 730, serial, true)
    }

    /// As [`Pki::issue_ra`], valid for `days` from `offset_secs` away from
    /// now (an RA certificate about to expire, or already expired).
    pub fn issue_ra_for(
        &self,
        csr_der: &[u8],
        serial: u64,
        days: u32,
        offset_secs: i64,
    ) -> Result<Vec<u8>, String> {
        let (params, spki) = params_from_csr(csr_der, days, serial, true, offset_secs)?;
        Ok(params
            .signed_by(&spki, &self.ra_ca.issuer)
            .map_err(err)?
            .der()
            .to_vec())
    }

    /// Issues a certificate for a different, random key (the "wrong key" fault).
    pub fn issue_for_other_key(&self, csr_der: &[u8], serial: u64) -> Result<Vec<u8>, String> {
        let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
        let (params, _) = params_from_csr(csr_der, 30, serial, false, 0)?;
        Ok(params
            .signed_by(&other, &self.issuing.issuer)
            .map_err(err)?
            .der()
            .to_vec())
    }

    fn sign(
        &self,
        csr_der: &[u8],
        ca: &Ca,
        days: u32,
        serial: u64,
        ra: bool,
    ) -> Result<Vec<u8>, String> {
        let (params, spki) = params_from_csr(csr_der, days, serial, ra, 0)?;
        Ok(params
            .signed_by(&spki, &ca.issuer)
            .map_err(err)?
            .der()
            .to_vec())
    }

    /// PKCS#7 certs-only: `leaf`, the issuing CA and the root.
    pub fn chain_p7(&self, leaf: &[u8]) -> Vec<u8> {
        pkcs7_certs_only(&[leaf, &self.issuing.der, &self.root.der])
    }
}

fn params_from_csr(
    csr_der: &[u8],
    days: u32,
    serial: u64,
    ra: bool,
    offset_secs: i64,
) -> Result<(CertificateParams, SubjectPublicKeyInfo), String> {
    let (_, csr) = X509CertificationRequest::from_der(csr_der)
        .map_err(|e| format!("CSR does not parse: {e}"))?;
    csr.verify_signature()
        .map_err(|e| format!("CSR signature does not verify: {e}"))?;
    let info = &csr.certification_request_info;
    let mut dn = DistinguishedName::new();
    for rdn in info.subject.iter() {
        for atv in rdn.iter() {
            let oid: Vec<u64> = atv
                .attr_type()
                .iter()
                .map(|i| i.collect())
                .unwrap_or_default();
            let ty = match atv.attr_type().to_id_string().as_str() {
                "2.5.4.3" => DnType::CommonName,
                "2.5.4.6" => DnType::CountryName,
                "2.5.4.10" => DnType::OrganizationName,
                "2.5.4.11" => DnType::OrganizationalUnitName,
                "2.5.4.7" => DnType::LocalityName,
                "2.5.4.8" => DnType::StateOrProvinceName,
                _ => DnType::CustomDnType(oid),
            };
            let data = atv.attr_value().data;
            let text = String::from_utf8_lossy(data).into_owned();
            let v = match atv.attr_value().header.tag().0 {
                0x13 => DnValue::PrintableString(text.try_into().map_err(err)?),
                0x16 => DnValue::Ia5String(text.try_into().map_err(err)?),
                _ => DnValue::Utf8String(text),
            };
            dn.push(ty, v);
        }
    }
    let mut p = CertificateParams::default();
    p.distinguished_name = dn;
    let now = OffsetDateTime::now_utc() + Duration::seconds(offset_secs);
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(days as i64);
    p.serial_number = Some(SerialNumber::from_slice(&{
        let mut s = serial.to_be_bytes().to_vec();
        s.insert(0, 0x01);
        s
    }));
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = if ra {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::EmailProtection,
        ]
    };
    p.use_authority_key_identifier_extension = true;
    // The requested SAN, byte for byte.
    for attr in info.iter_attributes() {
        if let x509_parser::cri_attributes::ParsedCriAttribute::ExtensionRequest(req) =
            attr.parsed_attribute()
        {
            for e in &req.extensions {
                // And the SID security extension (KB5014754), as a CA whose
                // profile allows it copies it.
                let arcs: &[u64] = match e.oid.to_id_string().as_str() {
                    "2.5.29.17" => &[2, 5, 29, 17],
                    "1.3.6.1.4.1.311.25.2" => &[1, 3, 6, 1, 4, 1, 311, 25, 2],
                    _ => continue,
                };
                let mut ce = CustomExtension::from_oid_content(arcs, e.value.to_vec());
                ce.set_criticality(e.critical);
                p.custom_extensions.push(ce);
            }
        }
    }
    let spki = SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(err)?;
    Ok((p, spki))
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let b = n.to_be_bytes();
        let skip = b.iter().take_while(|x| **x == 0).count();
        v.push(0x80 | (b.len() - skip) as u8);
        v.extend_from_slice(&b[skip..]);
    }
    v.extend_from_slice(content);
    v
}

/// A degenerate (certs-only) PKCS#7 SignedData (RFC 2315 / RFC 5652).
pub fn pkcs7_certs_only(certs: &[&[u8]]) -> Vec<u8> {
    const SIGNED_DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    const DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    let all: Vec<u8> = certs.iter().flat_map(|c| c.iter().copied()).collect();
    let mut sd = Vec::new();
    sd.extend(tlv(0x02, &[1]));
    sd.extend(tlv(0x31, &[]));
    sd.extend(tlv(0x30, &tlv(0x06, &DATA)));
    sd.extend(tlv(0xa0, &all));
    sd.extend(tlv(0x31, &[]));
    let mut ci = tlv(0x06, &SIGNED_DATA);
    ci.extend(tlv(0xa0, &tlv(0x30, &sd)));
    tlv(0x30, &ci)
}
