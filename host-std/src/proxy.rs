//! The HTTP proxy between raconn and the CA: `proxy = "http://host:port"`
//! in raconn.toml, else `HTTPS_PROXY` / `https_proxy`, with `NO_PROXY` /
//! `no_proxy` honoured (curl's rules: `*`, host names matching as a
//! domain suffix, IP addresses exactly). raconn opens a `CONNECT` tunnel
//! (the request and the answer are the core's, [`raconn_core::http`]) and
//! runs the same mutual TLS inside it: the proxy sees neither the RA key
//! nor a SOAP body. Basic credentials come from the URL
//! (`http://user:password@proxy:3128`) or, for the password, from
//! `RACONN_PROXY_PASSWORD`.

use std::fmt;

/// A proxy to reach the CA through.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Host name or IP address.
    pub host: String,
    /// Port (80 when the URL gives none, as curl).
    pub port: u16,
    /// `user:password` for Basic authentication.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        write!(f, "Proxy({})", self)
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.credentials {
            Some((u, _)) => write!(f, "http://{u}:***@{}:{}", self.host, self.port),
            None => write!(f, "http://{}:{}", self.host, self.port),
        }
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Proxy {
    /// Parses `http://[user[:password]@]host[:port][/]`; the password may
    /// also come from `password` (RACONN_PROXY_PASSWORD).
    pub fn parse(url: &str, password: Option<String>) -> Result<Proxy, String> {
        let u = url.trim();
        let rest = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("HTTP://"))
            .ok_or_else(|| format!("{u:?}: write the proxy as http://host:port (raconn tunnels TLS through it with CONNECT)"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(format!("{u:?}: a proxy URL has no path"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((ui, hp)) => (Some(ui), hp),
            None => (None, rest),
        };
        let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
            let (h, after) = r
                .split_once(']')
                .ok_or_else(|| format!("{u:?}: unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse::<u16>().map_err(|_| format!("{u:?}: bad port"))?,
                None if after.is_empty() => 80,
                None => return Err(format!("{u:?}: bad port")),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>().map_err(|_| format!("{u:?}: bad port"))?,
                ),
                None => (hostport.to_string(), 80),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(format!("{u:?}: no host or port"));
        }
        let credentials = match userinfo {
            None => None,
            Some(ui) => {
                let (user, pw) = match ui.split_once(':') {
                    Some((a, b)) => (pct_decode(a), Some(pct_decode(b))),
                    None => (pct_decode(ui), None),
                };
                let pw = pw.or(password).ok_or_else(|| {
                    format!("{u:?} names user {user:?} but no password: put it in the URL or in RACONN_PROXY_PASSWORD")
                })?;
                Some((user, pw))
            }
        };
        Ok(Proxy {
            host,
            port,
            credentials,
        })
    }

    /// `base64(user:password)` for `Proxy-Authorization: Basic`.
    pub fn basic(&self) -> Option<String> {
        self.credentials
            .as_ref()
            .map(|(u, p)| base64(format!("{u}:{p}").as_bytes()))
    }
}

fn base64(data: &[u8]) -> String {
    let mut b = vec![0u8; data.len() * 4 / 3 + 8];
    let mut w = raconn_core::xml::XmlWriter::new(&mut b);
    w.base64(data);
    w.finish().map(str::to_string).unwrap_or_default()
}

/// Whether `host` is exempt from the proxy by a `NO_PROXY` list.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            if e == "*" {
                return true;
            }
            // An entry may carry a port; compare host names only.
            let e = match e.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
                _ => e,
            };
            let e = e.trim_start_matches('.').to_ascii_lowercase();
            host == e || host.ends_with(&format!(".{e}"))
        })
}

/// The proxy for `ca_host`: the configured one, else `HTTPS_PROXY`, unless
/// `NO_PROXY` exempts the host. `env` reads a variable (the process's, in
/// production).
pub fn select(
    configured: Option<&str>,
    ca_host: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, String> {
    let from_env = || {
        env("HTTPS_PROXY")
            .or_else(|| env("https_proxy"))
            .filter(|v| !v.trim().is_empty())
    };
    let Some(url) = configured.map(str::to_string).or_else(from_env) else {
        return Ok(None);
    };
    let no = env("NO_PROXY")
        .or_else(|| env("no_proxy"))
        .unwrap_or_default();
    if no_proxy_matches(&no, ca_host) {
        return Ok(None);
    }
    Proxy::parse(&url, env("RACONN_PROXY_PASSWORD")).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_credentials_and_no_proxy() {
        let p = Proxy::parse("http://proxy.corp:3128", None).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials),
            ("proxy.corp", 3128, None)
        );
        let p = Proxy::parse("http://svc%40corp:p%3Ass@proxy.corp:8080/", None).unwrap();
        assert_eq!(p.credentials, Some(("svc@corp".into(), "p:ss".into())));
        assert_eq!(p.basic().as_deref(), Some("c3ZjQGNvcnA6cDpzcw=="));
        assert_eq!(
            format!("{p:?}"),
            "Proxy(http://svc@corp:***@proxy.corp:8080)"
        );
        let p = Proxy::parse("http://svc@[2001:db8::1]:3128", Some("pw".into())).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("2001:db8::1", 3128));
        assert_eq!(p.credentials, Some(("svc".into(), "pw".into())));
        assert!(Proxy::parse("http://svc@proxy:3128", None).is_err());
        assert!(Proxy::parse("https://proxy:3128", None).is_err());
        assert!(Proxy::parse("http://proxy:3128/path", None).is_err());
        assert_eq!(Proxy::parse("http://proxy", None).unwrap().port, 80);
        assert!(no_proxy_matches(
            "localhost, .corp.example",
            "ca.corp.example"
        ));
        assert!(no_proxy_matches("corp.example", "corp.example"));
        assert!(!no_proxy_matches("corp.example", "notcorp.example"));
        assert!(no_proxy_matches("*", "anything"));
        assert!(no_proxy_matches("10.0.0.1:443", "10.0.0.1"));
        assert!(!no_proxy_matches("", "x"));
        let env = |k: &str| match k {
            "HTTPS_PROXY" => Some("http://envproxy:3128".to_string()),
            "NO_PROXY" => Some("internal.example".to_string()),
            _ => None,
        };
        assert_eq!(
            select(None, "pki-ws.symauth.com", env)
                .unwrap()
                .unwrap()
                .host,
            "envproxy"
        );
        assert_eq!(select(None, "ca.internal.example", env).unwrap(), None);
        assert_eq!(
            select(Some("http://cfg:1"), "pki-ws.symauth.com", env)
                .unwrap()
                .unwrap()
                .host,
            "cfg"
        );
        assert_eq!(select(None, "x", |_| None).unwrap(), None);
    }
}
