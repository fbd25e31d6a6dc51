//! raconn-sim: a local simulator of the DigiCert (ex-VeriSign) PKI Web
//! Services — `/pki-ws/policyService`, `/pki-ws/enrollmentService`,
//! `/pki-ws/certificateManagementService` (searchCertificate),
//! `/pki-ws/healthcheckService` — over HTTPS with a required client
//! certificate, for raconn's tests and quickstart.
//!
//! Whether a repeated clientTransactionID is recognised (the first
//! certificate returned again) is a switch, [`Sim::set_recognise_repeats`]:
//! protocol.md does not confirm that DigiCert does it, so the exactly-once
//! tests run with it off and count certificates issued.
//!
//! It is written independently of raconn-core: requests are read with
//! roxmltree, certificates are made with rcgen and read with x509-parser, so
//! the simulator and the core check each other. Every request is recorded
//! and, when `shared/schemas/pkiws/validate` and xmllint are available,
//! schema-validated; an invalid request is answered with HTTP 400 and the
//! validator's errors. Faults can be switched on to exercise each failure
//! the reference connector documents.

pub mod pki;
pub mod server;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Deserialize;

pub use pki::{Pki, ServerKey};

/// One attribute of a simulated profile.
#[derive(Debug, Clone, Deserialize)]
pub struct Attr {
    /// `attributeName` (CN, E, rfc822Name, otherName.userPrincipalName, otherName.<oid>, givenName, …).
    pub kind: String,
    /// `attributeNameValue`: the nameValuePair name.
    pub name: String,
    /// `@mandatory`.
    #[serde(default)]
    pub mandatory: bool,
}

/// A simulated certificate profile.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    /// Profile OID.
    pub oid: String,
    /// Display name.
    #[serde(default = "default_name")]
    pub name: String,
    /// RSA key size the policy asks for.
    #[serde(default = "default_key_size")]
    pub key_size: u32,
    /// Validity in days.
    #[serde(default = "default_validity")]
    pub validity_days: u32,
    /// Subject attributes.
    #[serde(default)]
    pub subject: Vec<Attr>,
    /// SAN-extension attributes.
    #[serde(default)]
    pub san: Vec<Attr>,
    /// Seat attribute name (seatIdInfo).
    pub seat: Option<String>,
    /// Key type the policy names: "rsa" (default) or "ec".
    #[serde(default = "default_key_type")]
    pub key_type: String,
}

fn default_key_type() -> String {
    "rsa".into()
}

fn default_name() -> String {
    "raconn-sim profile".into()
}
fn default_key_size() -> u32 {
    2048
}
fn default_validity() -> u32 {
    365
}

/// The profiles file.
#[derive(Debug, Clone, Deserialize)]
pub struct Profiles {
    /// Profiles.
    pub profile: Vec<Profile>,
}

impl Profiles {
    /// Parses TOML.
    pub fn from_toml(s: &str) -> Result<Profiles, String> {
        toml::from_str(s).map_err(|e| e.to_string())
    }

    /// The profile used by the tests and the quickstart (Intune-style user certificate).
    pub fn default_set() -> Profiles {
        Profiles::from_toml(DEFAULT_PROFILES).unwrap_or(Profiles { profile: vec![] })
    }
}

/// The default profiles (also `tests/sim/profiles.toml`).
pub const DEFAULT_PROFILES: &str = include_str!("../profiles.toml");

/// Faults on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Wait this many milliseconds before answering.
    Delay(u64),
    /// Close the connection without answering.
    Drop,
    /// HTTP 500 with a plain-text body.
    Http500,
    /// SOAP fault "A request element is not understood." on the policy request.
    UnknownOid,
    /// SOAP fault "Policy Verification failed" on enrollment.
    PolicyVerification,
    /// SOAP fault about special characters in first/last name on enrollment.
    SpecialChars,
    /// Enrollment pending for this many polls, then issued.
    PendingThenIssued(u32),
    /// A reply that is not well-formed XML.
    MalformedXml,
    /// A certificate for another key.
    WrongKey,
    /// Process the request (an enrollment issues), then close the
    /// connection without answering: a reply lost on the way back.
    LoseReply,
    /// SOAP fault to `searchCertificate` (the RA may not search).
    SearchRefused,
    /// A reply that never ends; see [`Stream`].
    Endless(Stream),
    /// A well-formed SOAP reply of another service (a health status)
    /// where a policy or certificate was expected.
    WrongReply,
    /// The CA is down for maintenance: the health check answers
    /// `statusCode` DOWN, every other service HTTP 503.
    Down,
}

impl Fault {
    /// Parses the `--fault` names of the `raconn-sim` binary.
    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "none" => Fault::None,
            "drop" => Fault::Drop,
            "http500" => Fault::Http500,
            "unknown-oid" => Fault::UnknownOid,
            "policy-verification" => Fault::PolicyVerification,
            "special-chars" => Fault::SpecialChars,
            "malformed-xml" => Fault::MalformedXml,
            "wrong-key" => Fault::WrongKey,
            "lose-reply" => Fault::LoseReply,
            "search-refused" => Fault::SearchRefused,
            "endless-body" => Fault::Endless(Stream::EndlessBody),
            "endless-chunked" => Fault::Endless(Stream::EndlessChunked),
            "endless-head" => Fault::Endless(Stream::EndlessHead),
            "slow-head" => Fault::Endless(Stream::SlowHead),
            "wrong-reply" => Fault::WrongReply,
            "down" => Fault::Down,
            s => {
                if let Some(ms) = s.strip_prefix("delay-") {
                    Fault::Delay(ms.parse().ok()?)
                } else if let Some(n) = s.strip_prefix("pending-") {
                    Fault::PendingThenIssued(n.parse().ok()?)
                } else {
                    return None;
                }
            }
        })
    }
}

/// A request the simulator received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// URL path.
    pub path: String,
    /// SOAPAction header.
    pub soap_action: String,
    /// The body.
    pub body: String,
    /// Schema validation result, when the validator ran.
    pub schema_valid: Option<bool>,
}

/// A reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
    /// Close the connection without sending anything.
    pub drop: bool,
    /// Wait before answering.
    pub delay_ms: u64,
    /// Answer with a reply that never ends (a hostile CA or proxy).
    pub stream: Option<Stream>,
}

/// Replies that never end: the server writes until the client goes away,
/// or stops by itself after two minutes or 64 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// HTTP 200 without Content-Length, then body bytes forever.
    EndlessBody,
    /// HTTP 200 with `Transfer-Encoding: chunked`, then chunks forever.
    EndlessChunked,
    /// A status line, then header lines forever.
    EndlessHead,
    /// A status line, then one header byte every 100 ms.
    SlowHead,
}

/// A certificate the simulator issued, as searchCertificate reports it.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// DER.
    pub der: Vec<u8>,
    /// The seat it counts against.
    pub seat: String,
    /// The profile OID.
    pub profile: String,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// VALID or REVOKED.
    pub status: String,
    /// When revoked: (milliseconds since 1970, reason as sent).
    pub revoked: Option<(i64, String)>,
}

struct State {
    fault: Fault,
    /// Only requests to a path ending with this get the fault.
    fault_scope: Option<String>,
    recorded: Vec<Recorded>,
    serial: u64,
    pending: std::collections::HashMap<String, (u32, Vec<u8>)>,
    /// clientTransactionID → (CSR, PKCS#7 issued for it).
    by_ctid: std::collections::HashMap<String, (Vec<u8>, Vec<u8>)>,
    issued: usize,
    certs: Vec<IssuedCert>,
    recognise_repeats: bool,
    clock_offset_secs: i64,
    client_certs: Vec<Vec<u8>>,
    page: usize,
    /// TLS connections accepted.
    connections: usize,
    /// Close a kept connection idle this long (else 60 s).
    idle_close_ms: Option<u64>,
    /// Send a stray empty `200 OK` after each reply.
    stray_reply: bool,
}

/// The simulator.
#[derive(Clone)]
pub struct Sim {
    /// Its PKI.
    pub pki: Arc<Pki>,
    /// Its profiles.
    pub profiles: Arc<Profiles>,
    state: Arc<Mutex<State>>,
    validator: Option<PathBuf>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const NS_POL: &str = "http://schemas.verisign.com/pkiservices/2009/07/policy";
const NS_ENR: &str = "http://schemas.verisign.com/pkiservices/2009/07/enrollment";
const NS_WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/";

const HEALTH_DOWN: &str = "<ns2:getStatusResponseMessage xmlns:ns2=\"http://schemas.pki.symantec.com/pkiservices/healthcheck\"><ns2:version>1.0</ns2:version><ns2:serverTransactionID>SIM-HEALTH</ns2:serverTransactionID><ns2:statusCode>DOWN</ns2:statusCode><ns2:statusMessage>raconn-sim is down for maintenance</ns2:statusMessage></ns2:getStatusResponseMessage>";
const HEALTH_UP: &str = "<ns2:getStatusResponseMessage xmlns:ns2=\"http://schemas.pki.symantec.com/pkiservices/healthcheck\"><ns2:version>1.0</ns2:version><ns2:serverTransactionID>SIM-HEALTH</ns2:serverTransactionID><ns2:statusCode>UP</ns2:statusCode><ns2:statusMessage>raconn-sim is up</ns2:statusMessage></ns2:getStatusResponseMessage>";

/// `<prefix:clientTransactionID>` echoing `ctid`, or nothing when empty.
fn ctid_element(prefix: &str, ctid: &str) -> String {
    if ctid.is_empty() {
        String::new()
    } else {
        format!(
            "<{prefix}:clientTransactionID>{}</{prefix}:clientTransactionID>",
            esc(ctid)
        )
    }
}

fn envelope(inner: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )
    .into_bytes()
}

fn fault(code: &str, string: &str, detail: &str) -> Reply {
    Reply {
        status: 500,
        body: envelope(&format!(
            "<soapenv:Fault><faultcode>soapenv:{code}</faultcode><faultstring>{}</faultstring><detail><ns2:errorCode xmlns:ns2=\"{NS_POL}\">0000</ns2:errorCode><ns2:message xmlns:ns2=\"{NS_POL}\">{}</ns2:message></detail></soapenv:Fault>",
            esc(string),
            esc(detail)
        )),
        drop: false,
        delay_ms: 0,
        stream: None,
    }
}

fn ok(body: Vec<u8>) -> Reply {
    Reply {
        status: 200,
        body,
        drop: false,
        delay_ms: 0,
        stream: None,
    }
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

/// Finds the kit's validator beside the repository, if xmllint is installed.
pub fn find_validator() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RACONN_PKIWS_VALIDATE") {
        return Some(PathBuf::from(p));
    }
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/schemas/pkiws/validate");
    let xmllint = std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok();
    (p.exists() && xmllint).then_some(p)
}

impl Sim {
    /// A simulator with a fresh PKI and these profiles.
    pub fn new(profiles: Profiles, server_key: ServerKey) -> Result<Sim, String> {
        Ok(Sim {
            pki: Arc::new(Pki::new(server_key)?),
            profiles: Arc::new(profiles),
            state: Arc::new(Mutex::new(State {
                fault: Fault::None,
                fault_scope: None,
                recorded: vec![],
                serial: 1,
                pending: Default::default(),
                by_ctid: Default::default(),
                issued: 0,
                certs: vec![],
                recognise_repeats: true,
                clock_offset_secs: 0,
                client_certs: Vec::new(),
                page: 50,
                connections: 0,
                idle_close_ms: None,
                stray_reply: false,
            })),
            validator: find_validator(),
        })
    }

    /// Turns schema validation off (benchmarks) or on with a given script.
    pub fn set_validator(&mut self, v: Option<PathBuf>) {
        self.validator = v;
    }

    /// Whether requests are schema-validated.
    pub fn validates(&self) -> bool {
        self.validator.is_some()
    }

    /// Switches a fault on for every request (`Fault::None` switches it off).
    pub fn set_fault(&self, f: Fault) {
        if let Ok(mut s) = self.state.lock() {
            s.fault = f;
            s.fault_scope = None;
        }
    }

    /// Switches a fault on for one service only (`"enrollmentService"`,
    /// `"policyService"`, `"certificateManagementService"`).
    pub fn set_fault_for(&self, service: &str, f: Fault) {
        if let Ok(mut s) = self.state.lock() {
            s.fault = f;
            s.fault_scope = Some(service.to_string());
        }
    }

    /// Every request so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state
            .lock()
            .map(|s| s.recorded.clone())
            .unwrap_or_default()
    }

    /// How many certificates were issued (a retry with the same
    /// clientTransactionID and request gets the first one back and is not counted).
    pub fn certificates_issued(&self) -> usize {
        self.state.lock().map(|s| s.issued).unwrap_or(0)
    }

    /// Every certificate issued, in order.
    pub fn certificates(&self) -> Vec<IssuedCert> {
        self.state
            .lock()
            .map(|s| s.certs.clone())
            .unwrap_or_default()
    }

    /// Whether a repeated clientTransactionID with the same CSR gets the
    /// first certificate back (on by default). Off, every enrollment issues
    /// a new certificate, as a CA that does not recognise repeats would.
    pub fn set_recognise_repeats(&self, on: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.recognise_repeats = on;
        }
    }

    /// Issues as a CA whose clock is `secs` ahead of this machine's
    /// (negative: behind), so certificates come out not yet valid or
    /// already expired.
    pub fn set_clock_offset(&self, secs: i64) {
        if let Ok(mut s) = self.state.lock() {
            s.clock_offset_secs = secs;
        }
    }

    /// Counts an accepted TLS connection (the server calls this).
    pub fn note_connection(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.connections += 1;
        }
    }

    /// TLS connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().map(|s| s.connections).unwrap_or(0)
    }

    /// Closes (close_notify, then FIN) a kept-alive connection that has
    /// been idle `ms` milliseconds between requests, as web servers do
    /// (`None`: after 60 s).
    pub fn set_idle_close_ms(&self, ms: Option<u64>) {
        if let Ok(mut s) = self.state.lock() {
            s.idle_close_ms = ms;
        }
    }

    /// After each reply, also sends a second, unrequested `200 OK` with an
    /// empty body on the same connection (a confused server or proxy): a
    /// client that reused the connection would take it for its next reply.
    pub fn set_stray_reply(&self, on: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.stray_reply = on;
        }
    }

    /// [`Sim::set_stray_reply`]'s setting.
    pub fn stray_reply(&self) -> bool {
        self.state.lock().map(|s| s.stray_reply).unwrap_or(false)
    }

    /// [`Sim::set_idle_close_ms`]'s setting.
    pub fn idle_close_ms(&self) -> Option<u64> {
        self.state.lock().ok().and_then(|s| s.idle_close_ms)
    }

    /// Notes the certificate a client authenticated with (the server calls
    /// this for every request).
    pub fn note_client_certificate(&self, der: &[u8]) {
        if let Ok(mut s) = self.state.lock() {
            s.client_certs.push(der.to_vec());
        }
    }

    /// The client certificate of every request so far, in order.
    pub fn client_certificates(&self) -> Vec<Vec<u8>> {
        self.state
            .lock()
            .map(|s| s.client_certs.clone())
            .unwrap_or_default()
    }

    /// searchCertificate page size (DigiCert pages by 50).
    pub fn set_search_page(&self, n: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.page = n.max(1);
        }
    }

    /// How many searchCertificate requests were received.
    pub fn searches(&self) -> usize {
        self.recorded()
            .iter()
            .filter(|r| r.body.contains("searchCertificateRequest"))
            .count()
    }

    /// How many enrollment requests (issue, not poll) were received.
    pub fn enrollments(&self) -> usize {
        self.recorded()
            .iter()
            .filter(|r| {
                r.path.ends_with("/enrollmentService") && r.body.contains("ws-trust/200512/Issue")
            })
            .count()
    }

    fn validate(&self, body: &str) -> Result<Option<bool>, String> {
        let Some(v) = &self.validator else {
            return Ok(None);
        };
        let dir =
            std::env::temp_dir().join(format!("raconn-sim-{}-{}", std::process::id(), rand_u64()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let f = dir.join("request.xml");
        std::fs::write(&f, body).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("bash")
            .arg(v)
            .arg(&f)
            .output()
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
        if out.status.success() {
            Ok(Some(true))
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Answers one request (no transport: tests call this directly).
    pub fn handle(&self, path: &str, soap_action: &str, body: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(body).into_owned();
        let valid = self.validate(&text);
        let fault_now = self
            .state
            .lock()
            .map(|s| match &s.fault_scope {
                Some(scope) if !path.ends_with(scope.as_str()) => Fault::None,
                _ => s.fault,
            })
            .unwrap_or(Fault::None);
        if let Ok(mut s) = self.state.lock() {
            s.recorded.push(Recorded {
                path: path.into(),
                soap_action: soap_action.into(),
                body: text.clone(),
                schema_valid: match &valid {
                    Ok(v) => *v,
                    Err(_) => Some(false),
                },
            });
        }
        if let Err(errors) = valid {
            eprintln!("raconn-sim: REQUEST FAILED SCHEMA VALIDATION on {path}:\n{errors}");
            return Reply {
                status: 400,
                body: format!("raconn-sim: request is not valid against the PKI Web Services schema:\n{errors}").into_bytes(),
                drop: false,
                delay_ms: 0,
                stream: None,
            };
        }
        if fault_now == Fault::LoseReply {
            let _ = self.route(path, &text, Fault::None);
            return Reply {
                status: 0,
                body: vec![],
                drop: true,
                delay_ms: 0,
                stream: None,
            };
        }
        let mut r = match fault_now {
            Fault::Drop => {
                return Reply {
                    status: 0,
                    body: vec![],
                    drop: true,
                    delay_ms: 0,
                    stream: None,
                }
            }
            Fault::Http500 => {
                return Reply {
                    status: 500,
                    body: b"Internal Server Error (raconn-sim)".to_vec(),
                    drop: false,
                    delay_ms: 0,
                    stream: None,
                }
            }
            Fault::MalformedXml => return ok(b"<soapenv:Envelope><soapenv:Body><oops".to_vec()),
            Fault::Endless(stream) => {
                return Reply {
                    status: 200,
                    body: vec![],
                    drop: false,
                    delay_ms: 0,
                    stream: Some(stream),
                }
            }
            Fault::WrongReply => return ok(envelope(HEALTH_UP)),
            Fault::Down if path.ends_with("/healthcheckService") => {
                return ok(envelope(HEALTH_DOWN))
            }
            Fault::Down => {
                return Reply {
                    status: 503,
                    body: b"Service Unavailable (raconn-sim: down for maintenance)".to_vec(),
                    drop: false,
                    delay_ms: 0,
                    stream: None,
                }
            }
            _ => self.route(path, &text, fault_now),
        };
        if let Fault::Delay(ms) = fault_now {
            r.delay_ms = ms;
        }
        r
    }

    fn route(&self, path: &str, body: &str, f: Fault) -> Reply {
        let doc = match roxmltree::Document::parse(body) {
            Ok(d) => d,
            Err(e) => {
                return fault(
                    "Client",
                    "The request is not well-formed XML.",
                    &e.to_string(),
                )
            }
        };
        match path {
            "/pki-ws/policyService" => self.policy(&doc, f),
            "/pki-ws/enrollmentService" => self.enroll(&doc, f),
            "/pki-ws/certificateManagementService" => self.management(&doc, f),
            "/pki-ws/healthcheckService" => ok(envelope(HEALTH_UP)),
            _ => Reply {
                status: 404,
                body: b"not found".to_vec(),
                drop: false,
                delay_ms: 0,
                stream: None,
            },
        }
    }

    fn profile(&self, oid: &str) -> Option<&Profile> {
        self.profiles.profile.iter().find(|p| p.oid == oid)
    }

    fn policy(&self, doc: &roxmltree::Document<'_>, f: Fault) -> Reply {
        let text = |name: &str| first_text(doc, name);
        let oid = text("oid");
        let ctid = text("clientTransactionID");
        let Some(p) = self.profile(&oid).filter(|_| f != Fault::UnknownOid) else {
            return fault(
                "Client",
                "A request element is not understood.",
                "Certificate profile not found",
            );
        };
        let pair = |elem: &str, a: &Attr| {
            format!(
                "<ns2:{elem}><ns2:attributeName>{}</ns2:attributeName><ns2:attributeNameValue mandatory=\"{}\" type=\"string\">{}</ns2:attributeNameValue></ns2:{elem}>",
                esc(&a.kind),
                a.mandatory,
                esc(&a.name)
            )
        };
        let subject: String = p
            .subject
            .iter()
            .map(|a| {
                format!(
                    "<ns2:subjectNameAttribute><ns2:subjectNameAttributecount>1</ns2:subjectNameAttributecount>{}</ns2:subjectNameAttribute>",
                    pair("subjectNameAttributeNameValuePair", a)
                )
            })
            .collect();
        let san: String = p
            .san
            .iter()
            .map(|a| pair("extensionAttributeNameValuePair", a))
            .collect();
        let seat = p
            .seat
            .as_ref()
            .map(|s| format!("<ns2:seatIdInfo><ns2:attributeNameValue mandatory=\"true\" type=\"string\">{}</ns2:attributeNameValue></ns2:seatIdInfo>", esc(s)))
            .unwrap_or_default();
        let ctid_el = ctid_element("ns2", &ctid);
        let inner = format!(
            "<ns2:getPoliciesResponse xmlns:ns2=\"{NS_POL}\">{ctid_el}<ns2:serverTransactionID>SIM-POL-{st}</ns2:serverTransactionID><ns2:response><ns2:policyID>SIM-POLICY</ns2:policyID><ns2:policyFriendlyName>{name}</ns2:policyFriendlyName><ns2:nextUpdateHours>8</ns2:nextUpdateHours><ns2:policiesNotChanged>false</ns2:policiesNotChanged><ns2:policies><ns2:policy><ns2:policyOIDReference>1</ns2:policyOIDReference><ns2:cAs><ns2:cAReference>1</ns2:cAReference></ns2:cAs><ns2:attributes><ns2:policySchema>2</ns2:policySchema><ns2:certificateValidity><ns2:validityPeriodDays>{vd}</ns2:validityPeriodDays><ns2:renewalPeriodDays>30</ns2:renewalPeriodDays></ns2:certificateValidity><ns2:subjectNameInfo>{subject}<ns2:overrideSubjectNameFormat>false</ns2:overrideSubjectNameFormat></ns2:subjectNameInfo><ns2:extensions><ns2:Extension><ns2:extensionOIDReference>2</ns2:extensionOIDReference><ns2:extensionCriticalFlag>false</ns2:extensionCriticalFlag><ns2:extensionSyntax>{san}</ns2:extensionSyntax></ns2:Extension></ns2:extensions><ns2:privateKeyAttributes><ns2:keysize>{ks}</ns2:keysize><ns2:keyexportable>true</ns2:keyexportable><ns2:algorithmOIDReference>3</ns2:algorithmOIDReference><ns2:cryptoProviders xsi:nil=\"true\"/></ns2:privateKeyAttributes><ns2:clientPolicy><ns2:certPublish>no</ns2:certPublish></ns2:clientPolicy><ns2:systemInfo><ns2:certificateDeliveryFormat>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7</ns2:certificateDeliveryFormat><ns2:duplicateCertPolicy xsi:nil=\"true\"/><ns2:supersededPolicyOID xsi:nil=\"true\"/></ns2:systemInfo><ns2:rAPolicy><ns2:registerUser>false</ns2:registerUser><ns2:verifyUser>false</ns2:verifyUser><ns2:publishCert>no</ns2:publishCert><ns2:pollingPolicy xsi:nil=\"true\"/></ns2:rAPolicy>{seat}<ns2:applicationInstructions xsi:nil=\"true\"/><ns2:deploymentMode>test</ns2:deploymentMode><ns2:status>active</ns2:status><ns2:migrationOIDs xsi:nil=\"true\"/></ns2:attributes></ns2:policy></ns2:policies></ns2:response><ns2:cAs><ns2:cA><ns2:certificate>{issuing}</ns2:certificate><ns2:cAIssuerName>CN=raconn-sim Issuing CA</ns2:cAIssuerName><ns2:cAReferenceID>1</ns2:cAReferenceID><ns2:cAType>private</ns2:cAType><ns2:rootCACertificate>{root}</ns2:rootCACertificate></ns2:cA></ns2:cAs><ns2:oIDs><ns2:oID><ns2:value>{oid}</ns2:value><ns2:oIDReferenceID>1</ns2:oIDReferenceID><ns2:group>9</ns2:group><ns2:defaultName>{name}</ns2:defaultName></ns2:oID><ns2:oID><ns2:value>2.5.29.17</ns2:value><ns2:oIDReferenceID>2</ns2:oIDReferenceID><ns2:group>6</ns2:group><ns2:defaultName>Subject Alternative Name</ns2:defaultName></ns2:oID><ns2:oID><ns2:value>{alg_oid}</ns2:value><ns2:oIDReferenceID>3</ns2:oIDReferenceID><ns2:group>3</ns2:group><ns2:defaultName>{alg_name}</ns2:defaultName></ns2:oID></ns2:oIDs></ns2:getPoliciesResponse>",
            st = rand_u64(),
            name = esc(&p.name),
            vd = p.validity_days,
            ks = p.key_size,
            issuing = b64(&self.pki.issuing.der),
            root = b64(&self.pki.root.der),
            oid = esc(&p.oid),
            alg_oid = if p.key_type == "ec" { "1.2.840.10045.2.1" } else { "1.2.840.113549.1.1.1" },
            alg_name = if p.key_type == "ec" { "ECC" } else { "RSA" },
        );
        ok(envelope(&inner))
    }

    fn enroll(&self, doc: &roxmltree::Document<'_>, f: Fault) -> Reply {
        let text = |name: &str| first_text(doc, name);
        let oid = text("certificateProfileID");
        let ctid = text("clientTransactionID");
        let request_type = text("requestType");
        let Some(p) = self.profile(&oid) else {
            return fault(
                "Client",
                "A request element is not understood.",
                "Certificate profile not found",
            );
        };
        let ctid_el = ctid_element("vs", &ctid);
        let respond = |inner: String| {
            ok(envelope(&format!(
                "<wst:RequestSecurityTokenResponse xmlns:wst=\"{NS_WST}\"><vs:RequestVSSecurityTokenResponse xmlns:vs=\"{NS_ENR}\">{ctid_el}<vs:serverTransactionID>SIM-ENR-{}</vs:serverTransactionID><vs:tokenType>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7</vs:tokenType>{inner}<vs:version>2.0</vs:version></vs:RequestVSSecurityTokenResponse></wst:RequestSecurityTokenResponse>",
                rand_u64()
            )))
        };
        let token = |p7: &[u8]| {
            format!(
                "<vs:dispositionMessage>Issued</vs:dispositionMessage><vs:requestedVSSecurityToken><vs:binarySecurityToken ValueType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7\" EncodingType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary\">{}</vs:binarySecurityToken></vs:requestedVSSecurityToken>",
                b64(p7)
            )
        };
        // Poll of a pending request.
        if request_type.ends_with("QueryTokenStatus") {
            let reference = text("pendingTokenReferenceID");
            let mut st = match self.state.lock() {
                Ok(s) => s,
                Err(_) => return fault("Server", "internal error", "lock"),
            };
            let Some((left, p7)) = st.pending.get_mut(&reference) else {
                return fault("Client", "Unknown pending token reference.", &reference);
            };
            if *left > 0 {
                *left -= 1;
                let r = reference.clone();
                drop(st);
                return respond(format!("<vs:dispositionMessage>Pending approval</vs:dispositionMessage><vs:requestedVSSecurityToken><vs:pendingTokenReferenceID>{}</vs:pendingTokenReferenceID></vs:requestedVSSecurityToken>", esc(&r)));
            }
            let p7 = p7.clone();
            st.pending.remove(&reference);
            drop(st);
            return respond(token(&p7));
        }
        // The attribute check the real CA makes ("Policy Verification failed").
        let allowed: Vec<&str> = p
            .subject
            .iter()
            .chain(p.san.iter())
            .map(|a| a.name.as_str())
            .chain(p.seat.as_deref())
            .collect();
        let mut sent = Vec::new();
        for nv in doc
            .descendants()
            .filter(|n| n.tag_name().name() == "nameValuePair")
        {
            let get = |k: &str| {
                nv.children()
                    .find(|c| c.tag_name().name() == k)
                    .and_then(|c| c.text())
                    .unwrap_or("")
                    .to_string()
            };
            sent.push((get("name"), get("value")));
        }
        for (n, _) in &sent {
            if !allowed.contains(&n.as_str()) {
                return fault("Client", &format!("Policy Verification failed. Attribute does not fall under supported Certificate template attributes list: {n}"), "Policy verification failed");
            }
        }
        for a in p.subject.iter().chain(p.san.iter()).filter(|a| a.mandatory) {
            if !sent.iter().any(|(n, v)| *n == a.name && !v.is_empty()) {
                return fault(
                    "Client",
                    &format!(
                        "Policy Verification failed. Mandatory attribute missing: {}",
                        a.name
                    ),
                    "Policy verification failed",
                );
            }
        }
        if f == Fault::PolicyVerification {
            return fault("Client", "Policy Verification failed. Attribute does not fall under supported Certificate template attributes list", "Policy verification failed");
        }
        let name_parts = p.subject.iter().any(|a| {
            a.name.eq_ignore_ascii_case("mail_firstName")
                || a.name.eq_ignore_ascii_case("mail_lastName")
        });
        let special = sent
            .iter()
            .any(|(_, v)| v.split('@').next().unwrap_or("").contains('_'));
        if f == Fault::SpecialChars || (name_parts && special) {
            return fault(
                "Client",
                "Special characters are not allowed in mail_firstName or mail_lastName.",
                "special character in name",
            );
        }
        let csr_b64 = text("binarySecurityToken");
        let csr = match base64::engine::general_purpose::STANDARD.decode(csr_b64.as_bytes()) {
            Ok(c) => c,
            Err(e) => {
                return fault(
                    "Client",
                    "The binary security token is not base64.",
                    &e.to_string(),
                )
            }
        };
        // A repeated clientTransactionID with the same request gets the
        // certificate issued the first time (how a retry after a lost reply
        // is recognised, when switched on); a different request is issued anew.
        if !ctid.is_empty() && f == Fault::None {
            if let Ok(s) = self.state.lock() {
                if let Some((c, p7)) = s.by_ctid.get(&ctid).filter(|_| s.recognise_repeats) {
                    if *c == csr {
                        let p7 = p7.clone();
                        drop(s);
                        return respond(token(&p7));
                    }
                }
            }
        }
        let (serial, offset) = {
            let mut s = match self.state.lock() {
                Ok(s) => s,
                Err(_) => return fault("Server", "internal error", "lock"),
            };
            s.serial += 1;
            (s.serial, s.clock_offset_secs)
        };
        let cert = if f == Fault::WrongKey {
            self.pki.issue_for_other_key(&csr, serial)
        } else {
            self.pki.issue_at(&csr, p.validity_days, serial, offset)
        };
        let cert = match cert {
            Ok(c) => c,
            Err(e) => {
                return fault(
                    "Client",
                    "The certificate request could not be processed.",
                    &e,
                )
            }
        };
        let p7 = self.pki.chain_p7(&cert);
        // The seat: the profile's seat attribute, else the e-mail, the UPN, the CN sent.
        let pair = |n: &str| sent.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let seat = p
            .seat
            .as_deref()
            .and_then(pair)
            .or_else(|| pair("mail_email"))
            .or_else(|| pair("otherNameUPN"))
            .or_else(|| pair("common_name"))
            .unwrap_or_default();
        if let Ok(mut s) = self.state.lock() {
            s.issued += 1;
            s.certs.push(IssuedCert {
                der: cert.clone(),
                seat,
                profile: p.oid.clone(),
                // The serial as DigiCert shows and finds it: the integer in
                // upper-case hex, no leading zeros.
                serial: x509_parser::parse_x509_certificate(&cert)
                    .map(|(_, x)| {
                        let h: String = x.raw_serial().iter().map(|b| format!("{b:02X}")).collect();
                        let t = h.trim_start_matches('0');
                        if t.is_empty() {
                            "0".to_string()
                        } else {
                            t.to_string()
                        }
                    })
                    .unwrap_or_default(),
                status: "VALID".into(),
                revoked: None,
            });
            if !ctid.is_empty() && f == Fault::None {
                s.by_ctid.insert(ctid.clone(), (csr.clone(), p7.clone()));
            }
        }
        if let Fault::PendingThenIssued(n) = f {
            let reference = format!("PEND-{serial:08X}");
            if let Ok(mut s) = self.state.lock() {
                s.pending
                    .insert(reference.clone(), (n.saturating_sub(1), p7));
            }
            return respond(format!("<vs:dispositionMessage>Pending approval</vs:dispositionMessage><vs:requestedVSSecurityToken><vs:pendingTokenReferenceID>{reference}</vs:pendingTokenReferenceID></vs:requestedVSSecurityToken>"));
        }
        respond(token(&p7))
    }
}

impl Sim {
    fn management(&self, doc: &roxmltree::Document<'_>, f: Fault) -> Reply {
        let root = doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == "Body");
        let op = root
            .and_then(|b| b.children().find(|c| c.is_element()))
            .map(|n| n.tag_name().name().to_string())
            .unwrap_or_default();
        if op == "updateCertificateStatusRequest" {
            return self.update_status(doc);
        }
        if op != "searchCertificateRequest" {
            return fault("Client", "A request element is not understood.", &op);
        }
        if f == Fault::SearchRefused {
            return fault(
                "Client",
                "The RA is not authorized to search certificates.",
                "operation not permitted",
            );
        }
        let text = |name: &str| first_text(doc, name);
        let (seat, profile, status) = (text("seatId"), text("profileOID"), text("status"));
        let common_name = text("commonName");
        let serial = text("serialNumber");
        let start: usize = text("startIndex").parse().unwrap_or(0);
        let (certs, page) = match self.state.lock() {
            Ok(s) => (s.certs.clone(), s.page),
            Err(_) => return fault("Server", "internal error", "lock"),
        };
        let hits: Vec<&IssuedCert> = certs
            .iter()
            .filter(|c| seat.is_empty() || c.seat == seat)
            .filter(|c| profile.is_empty() || c.profile == profile)
            .filter(|c| status.is_empty() || c.status == status)
            .filter(|c| common_name.is_empty() || cn_of(&c.der) == common_name)
            // Exact: a serial with leading zeros is not found (as DigiCert).
            .filter(|c| serial.is_empty() || c.serial.eq_ignore_ascii_case(&serial))
            .collect();
        let shown: Vec<&&IssuedCert> = hits.iter().skip(start).take(page).collect();
        let more = start + shown.len() < hits.len();
        let list: String = shown
            .iter()
            .map(|c| {
                let (cn, not_before, not_after) = x509_parser::parse_x509_certificate(&c.der)
                    .map(|(_, x)| {
                        (
                            x.subject()
                                .iter_common_name()
                                .next()
                                .and_then(|a| a.as_str().ok())
                                .unwrap_or("")
                                .to_string(),
                            x.validity().not_before.timestamp() * 1000,
                            x.validity().not_after.timestamp() * 1000,
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "<ns3:certificateInformation><ns3:certificate>{}</ns3:certificate><ns3:seatId>{}</ns3:seatId><ns3:commonName>{}</ns3:commonName><ns3:accountId>SIM-ACCOUNT</ns3:accountId><ns3:profileOID>{}</ns3:profileOID><ns3:emailAddress xsi:nil=\"true\"/><ns3:status>{}</ns3:status>{}<ns3:validFrom>{not_before}</ns3:validFrom><ns3:validTo>{not_after}</ns3:validTo><ns3:serialNumber>{}</ns3:serialNumber><ns3:isEscrowed>false</ns3:isEscrowed><ns3:enrollmentNotes xsi:nil=\"true\"/><ns3:revokeComments xsi:nil=\"true\"/></ns3:certificateInformation>",
                    b64(&c.der),
                    esc(&c.seat),
                    esc(&cn),
                    esc(&c.profile),
                    esc(&c.status),
                    c.revoked.as_ref().map_or(String::new(), |(at, reason)| format!(
                        "<ns3:revokeAt>{at}</ns3:revokeAt><ns3:revokeReason>{}</ns3:revokeReason>",
                        esc(reason)
                    )),
                    esc(&c.serial),
                )
            })
            .collect();
        let ctid = text("clientTransactionID");
        let ctid_el = ctid_element("ns3", &ctid);
        let list_el = if shown.is_empty() {
            String::new()
        } else {
            format!("<ns3:certificateList>{list}</ns3:certificateList>")
        };
        ok(envelope(&format!(
            "<ns3:searchCertificateResponse xmlns:ns3=\"{NS_MGMT}\">{ctid_el}<ns3:serverTransactionID>SIM-SRCH-{}</ns3:serverTransactionID><ns3:certificateCount>{}</ns3:certificateCount>{list_el}<ns3:moreCertificateAvailable>{more}</ns3:moreCertificateAvailable><ns3:version>1.0</ns3:version></ns3:searchCertificateResponse>",
            rand_u64() % 0xFFFF_FFFF,
            shown.len(),
        )))
    }

    /// `updateCertificateStatus` (Revoke): the certificate with that serial
    /// (exactly as DigiCert shows it) becomes REVOKED. An unknown serial and
    /// a second revocation are SOAP faults — how DigiCert words them is not
    /// public (protocol.md §7.1 marks it unknown); raconn checks the status
    /// by search before revoking, so it does not depend on the wording.
    fn update_status(&self, doc: &roxmltree::Document<'_>) -> Reply {
        let text = |name: &str| first_text(doc, name);
        let serial = text("certificateSerialNumber");
        if text("operationType") != "Revoke" {
            return fault(
                "Client",
                "Only Revoke is supported by raconn-sim.",
                &text("operationType"),
            );
        }
        let reason = text("revocationReason");
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(_) => return fault("Server", "internal error", "lock"),
        };
        let Some(c) = s
            .certs
            .iter_mut()
            .find(|c| c.serial.eq_ignore_ascii_case(&serial))
        else {
            return fault("Client", "Certificate not found.", &serial);
        };
        if c.status == "REVOKED" {
            return fault("Client", "Certificate is already revoked.", &serial);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        c.status = "REVOKED".into();
        c.revoked = Some((
            now,
            if reason.is_empty() {
                "Unspecified".into()
            } else {
                reason
            },
        ));
        drop(s);
        let ctid = text("clientTransactionID");
        let ctid_el = ctid_element("ns3", &ctid);
        ok(envelope(&format!(
            "<ns3:updateCertificateStatusResponse xmlns:ns3=\"{NS_MGMT}\">{ctid_el}<ns3:serverTransactionID>SIM-REV-{}</ns3:serverTransactionID><ns3:version>1.0</ns3:version><ns3:successCode>0</ns3:successCode><ns3:successMsg>Success</ns3:successMsg><ns3:revocationCount>1</ns3:revocationCount></ns3:updateCertificateStatusResponse>",
            rand_u64() % 0xFFFF_FFFF
        )))
    }
}

/// The first common name of a certificate.
fn cn_of(der: &[u8]) -> String {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .and_then(|(_, x)| {
            x.subject()
                .iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

const NS_MGMT: &str = "http://schemas.verisign.com/pkiservices/2009/07/management";

/// Text of the first element with local name `name` (empty when absent).
fn first_text(doc: &roxmltree::Document<'_>, name: &str) -> String {
    doc.descendants()
        .find(|n| n.tag_name().name() == name)
        .and_then(|n| n.text())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A non-cryptographic unique-ish number (ids, temp names).
pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
