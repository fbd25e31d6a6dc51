//! Event IDs of `raconn serve`, and the layer that writes its log to the
//! Windows Event Log.
//!
//! The reference connector writes its operations to the Windows Event Log
//! with numbered events, and administrators' runbooks and SIEM rules key on
//! those numbers (PKCS issuance in the 1000s, revocation in the 3000s,
//! service start/stop as 10010/10020 — `../shared/docs/service.md` §4 and
//! Microsoft's "Intune Certificate Connector events and diagnostic codes").
//! raconn gives the same events the same ranges: the IDs below ride on every
//! log line as the `event_id` field (stderr, JSON, the systemd journal), and
//! under the Windows Service Control Manager — whose services have no
//! stderr — [`EventLogLayer`] reports each INFO/WARN/ERROR event with
//! `ReportEventW` under the service's name in the Application log.
//!
//! `raconn service install` registers that source with .NET's
//! `EventLogMessages.dll` as its message file — the file every .NET service
//! (the reference connector among them) uses: it holds the message `%1` for
//! every ID, so Event Viewer shows raconn's text as it is, with no message
//! compiler in the build. `raconn service uninstall` removes the source.
//!
//! An event's text is its message, then one `name: value` line per field of
//! the event and of the spans it ran in (`request_id`, `instance`, `code`,
//! `thumbprint`, …): "review the event details" as in the reference's
//! descriptions. No request body or password is ever a field.
//!
//! The layer is platform-neutral and tested on Linux through [`Sink`];
//! the `ReportEventW` sink ([`windows::Source`]) is compile-checked for
//! `x86_64-pc-windows-gnu` by the test script and cannot run here.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{span, Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A PKCS request was issued: the PFX is ready (Information).
pub const PKCS_ISSUED: u32 = 1001;
/// A PKCS request failed for good (Error); `code` names why.
pub const PKCS_FAILED: u32 = 1002;
/// A PKCS request failed and will be tried again (Warning).
pub const PKCS_RETRY: u32 = 1003;
/// The CA holds a PKCS request for approval; it is polled (Information).
pub const PKCS_PENDING: u32 = 1004;
/// A request whose worker's lease expired was taken over (Warning).
pub const PKCS_TAKEN_OVER: u32 = 1005;
/// A certificate was revoked, or the CA says it was already (Information).
pub const REVOKED: u32 = 3001;
/// A revocation failed for good (Error).
pub const REVOKE_FAILED: u32 = 3002;
/// A revocation failed and will be tried again (Warning).
pub const REVOKE_RETRY: u32 = 3003;
/// Any other event of the service (its level says how bad).
pub const SERVICE: u32 = 10000;
/// The service is ready: API listening, workers running (Information).
pub const SERVICE_STARTED: u32 = 10010;
/// The service stopped (Information).
pub const SERVICE_STOPPED: u32 = 10020;
/// raconn.toml, the tokens and the RA certificate were reloaded, or the
/// reload failed (Information / Error).
pub const RELOADED: u32 = 10030;

/// The longest text `ReportEventW` takes in one string (characters).
pub const TEXT_MAX: usize = 31_839;

/// An Event Log entry type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Error,
    Warning,
    Information,
}

/// Where entries go: the Windows Event Log, or a test's list.
pub trait Sink: Send + Sync + 'static {
    fn report(&self, kind: Kind, id: u32, text: &str);
}

/// A [`tracing_subscriber::Layer`] that hands INFO, WARN and ERROR events to
/// a [`Sink`] with their event ID and text.
pub struct EventLogLayer<K> {
    sink: K,
}

impl<K: Sink> EventLogLayer<K> {
    pub fn new(sink: K) -> Self {
        EventLogLayer { sink }
    }
}

/// A span's fields, kept for the events inside it.
struct SpanFields(Vec<(&'static str, String)>);

#[derive(Default)]
struct Fields {
    message: String,
    event_id: Option<u32>,
    pairs: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "event_id" {
            self.event_id = u32::try_from(value).ok();
        } else {
            self.pairs.push((field.name(), value.to_string()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "event_id" {
            self.event_id = u32::try_from(value).ok();
        } else {
            self.pairs.push((field.name(), value.to_string()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs.push((field.name(), value.to_string()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((field.name(), format!("{value:?}")));
        }
    }
}

impl<S, K> Layer<S> for EventLogLayer<K>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    K: Sink,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let Some(s) = ctx.span(id) {
            s.extensions_mut().insert(SpanFields(f.pairs));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let kind = match *event.metadata().level() {
            Level::ERROR => Kind::Error,
            Level::WARN => Kind::Warning,
            Level::INFO => Kind::Information,
            _ => return,
        };
        let mut f = Fields::default();
        event.record(&mut f);
        let mut text = f.message;
        if let Some(scope) = ctx.event_scope(event) {
            for s in scope.from_root() {
                if let Some(sf) = s.extensions().get::<SpanFields>() {
                    for (k, v) in &sf.0 {
                        let _ = write!(text, "\n{k}: {v}");
                    }
                }
            }
        }
        for (k, v) in &f.pairs {
            let _ = write!(text, "\n{k}: {v}");
        }
        let id = f.event_id.unwrap_or(SERVICE);
        self.sink.report(kind, id, clip(&text));
    }
}

/// `text` cut to [`TEXT_MAX`] UTF-16 units at a character boundary.
fn clip(text: &str) -> &str {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        units += c.len_utf16();
        if units > TEXT_MAX {
            return text.get(..i).unwrap_or(text);
        }
    }
    text
}

/// The `ReportEventW` sink and the source's registration.
#[cfg(windows)]
pub mod windows {
    use std::ffi::c_void;

    use windows_sys::Win32::System::EventLog::{
        DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE,
        EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    };
    use windows_sys::Win32::System::Registry::{
        RegCloseKey, RegCreateKeyExW, RegDeleteKeyW, RegSetValueExW, HKEY, HKEY_LOCAL_MACHINE,
        KEY_WRITE, REG_DWORD, REG_EXPAND_SZ, REG_OPTION_NON_VOLATILE,
    };

    use super::{Kind, Sink};

    /// .NET Framework 4's message file: `%1` for every event ID.
    pub const MESSAGE_FILE: &str =
        r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll";

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    fn key_path(name: &str) -> Vec<u16> {
        wide(&format!(
            r"SYSTEM\CurrentControlSet\Services\EventLog\Application\{name}"
        ))
    }

    /// An event source registered with `RegisterEventSourceW`.
    pub struct Source(*mut c_void);

    // SAFETY: an event log handle may be used from any thread
    // (ReportEventW serialises internally); it is closed once, on drop.
    unsafe impl Send for Source {}
    unsafe impl Sync for Source {}

    impl Source {
        /// Opens the source `name` on this computer; `None` if Windows refuses.
        pub fn open(name: &str) -> Option<Source> {
            let n = wide(name);
            // SAFETY: `n` is a NUL-terminated UTF-16 string that outlives the call.
            let h = unsafe { RegisterEventSourceW(std::ptr::null(), n.as_ptr()) };
            if h.is_null() {
                None
            } else {
                Some(Source(h))
            }
        }
    }

    impl Drop for Source {
        fn drop(&mut self) {
            // SAFETY: the handle came from RegisterEventSourceW and is closed once.
            unsafe {
                DeregisterEventSource(self.0);
            }
        }
    }

    impl Sink for Source {
        fn report(&self, kind: Kind, id: u32, text: &str) {
            let t = wide(text);
            let strings = [t.as_ptr()];
            let ty = match kind {
                Kind::Error => EVENTLOG_ERROR_TYPE,
                Kind::Warning => EVENTLOG_WARNING_TYPE,
                Kind::Information => EVENTLOG_INFORMATION_TYPE,
            };
            // SAFETY: one NUL-terminated string, no SID, no raw data; every
            // pointer outlives the call.
            unsafe {
                ReportEventW(
                    self.0,
                    ty,
                    0,
                    id,
                    std::ptr::null_mut(),
                    1,
                    0,
                    strings.as_ptr(),
                    std::ptr::null(),
                );
            }
        }
    }

    /// Registers `name` as an Application-log source whose messages come
    /// from [`MESSAGE_FILE`]. Returns the Win32 error code on failure.
    pub fn register(name: &str) -> Result<(), u32> {
        let path = key_path(name);
        let mut key: HKEY = std::ptr::null_mut();
        // SAFETY: `path` is NUL-terminated; `key` receives the handle, closed below.
        let rc = unsafe {
            RegCreateKeyExW(
                HKEY_LOCAL_MACHINE,
                path.as_ptr(),
                0,
                std::ptr::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_WRITE,
                std::ptr::null(),
                &mut key,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(rc);
        }
        let file = wide(MESSAGE_FILE);
        let file_bytes: Vec<u8> = file.iter().flat_map(|u| u.to_le_bytes()).collect();
        let types: u32 = 7;
        let set = |value: &str, ty: u32, data: &[u8]| -> u32 {
            let v = wide(value);
            // SAFETY: `v` is NUL-terminated, `data` is `data.len()` bytes; `key` is open.
            unsafe {
                RegSetValueExW(
                    key,
                    v.as_ptr(),
                    0,
                    ty,
                    data.as_ptr(),
                    u32::try_from(data.len()).unwrap_or(0),
                )
            }
        };
        let mut rc = set("EventMessageFile", REG_EXPAND_SZ, &file_bytes);
        if rc == 0 {
            rc = set("TypesSupported", REG_DWORD, &types.to_le_bytes());
        }
        // SAFETY: `key` was opened above and is closed once.
        unsafe {
            RegCloseKey(key);
        }
        if rc == 0 {
            Ok(())
        } else {
            Err(rc)
        }
    }

    /// Removes the source `name`; a source that is not there is not an error.
    pub fn unregister(name: &str) -> Result<(), u32> {
        let path = key_path(name);
        // SAFETY: `path` is NUL-terminated.
        let rc = unsafe { RegDeleteKeyW(HKEY_LOCAL_MACHINE, path.as_ptr()) };
        match rc {
            0 | 2 => Ok(()),
            e => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct List(Arc<Mutex<Vec<(Kind, u32, String)>>>);

    impl Sink for List {
        fn report(&self, kind: Kind, id: u32, text: &str) {
            if let Ok(mut l) = self.0.lock() {
                l.push((kind, id, text.to_string()));
            }
        }
    }

    fn capture(f: impl FnOnce()) -> Vec<(Kind, u32, String)> {
        let list = List::default();
        let sub = tracing_subscriber::registry().with(EventLogLayer::new(list.clone()));
        tracing::subscriber::with_default(sub, f);
        let v = list.0.lock().map(|l| l.clone()).unwrap_or_default();
        v
    }

    #[test]
    fn ids_levels_and_span_fields() {
        let got = capture(|| {
            let span = tracing::info_span!("request", request_id = %"r-1", instance = %"host-7");
            let _g = span.enter();
            tracing::info!(event_id = PKCS_ISSUED, thumbprint = %"AB12", "issued");
            tracing::warn!(
                event_id = PKCS_RETRY,
                code = "RC-TLS-001",
                attempt = 2,
                "failed, will try again: reset"
            );
            tracing::error!(
                event_id = PKCS_FAILED,
                code = "RC-PKIWS-007",
                "failed: not allowed"
            );
            tracing::debug!(event_id = PKCS_ISSUED, "not reported");
            tracing::warn!("no id given");
        });
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0],
            (
                Kind::Information,
                1001,
                "issued\nrequest_id: r-1\ninstance: host-7\nthumbprint: AB12".to_string()
            )
        );
        assert_eq!(got[1].0, Kind::Warning);
        assert_eq!(got[1].1, 1003);
        assert_eq!(
            got[1].2,
            "failed, will try again: reset\nrequest_id: r-1\ninstance: host-7\ncode: RC-TLS-001\nattempt: 2"
        );
        assert_eq!((got[2].0, got[2].1), (Kind::Error, 1002));
        assert!(got[2].2.contains("code: RC-PKIWS-007"));
        assert_eq!((got[3].0, got[3].1), (Kind::Warning, SERVICE));
        assert_eq!(got[3].2, "no id given\nrequest_id: r-1\ninstance: host-7");
    }

    #[test]
    fn long_text_is_clipped_at_a_character() {
        let long = "é".repeat(TEXT_MAX + 10);
        let got = capture(|| tracing::error!("{long}"));
        assert_eq!(got[0].2.chars().count(), TEXT_MAX);
        // A character outside the BMP takes two UTF-16 units.
        let s = format!("{}😀", "a".repeat(TEXT_MAX - 1));
        assert_eq!(clip(&s).len(), TEXT_MAX - 1);
        assert_eq!(clip("short"), "short");
    }
}
