//! Every code of the catalogue is produced by some test.
//!
//! The table of code → test is read from the test sources themselves: a
//! code counts as produced when a test asserts it — a string literal
//! `"RC-…"` in a test file (`*/tests/*.rs`) or in a `#[cfg(test)]` module
//! — so a code no test ever sees fails this test, naming the code. Tests
//! assert codes by string (`e.code() == "RC-…"`, an error message that
//! `contains("RC-…")`), which is also what users and scripts see.
//!
//! A few codes cannot be produced from outside raconn; they are listed in
//! [`UNREACHABLE`] with the reason, and this test fails if one of them
//! turns up in a test (then it is reachable and belongs in the table).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use raconn_tests::repo_root;

/// Codes no input from outside can produce, and why.
const UNREACHABLE: &[(&str, &str)] = &[
    (
        "RC-SVC-016",
        "a lost lease is logged by the worker that lost it and never returned to a caller; the failover test checks its effect (the other instance's takeover, one certificate per request)",
    ),
    (
        "RC-HOST-007",
        "raconn's own signers (rsa, p256, PKCS#11, CNG) make requests that verify; the self-check guards against a broken token",
    ),
    (
        "RC-SIGN-002",
        "a software key's signature cannot fail, and a token's failure is reported as RC-SIGN-001 (key unavailable); only an appliance's secure element can answer HsmError::Device",
    ),
    (
        "RC-HOST-014",
        "the PFX writer fails only on inputs checked before the request is sent (password, name, key): the pre-send check would report it first",
    ),
    (
        "RC-HOST-003",
        "key generation fails only when the operating system's random source or the PKCS#11/CNG provider fails",
    ),
];

/// This file: its own literals do not count.
const SELF: &str = "tests/tests/every_code.rs";

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if name == "target" || name.starts_with('.') || name == "fuzz" {
                continue;
            }
            rs_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// The test code of a file: all of it in a tests/ directory, else what
/// follows `#[cfg(test)]`.
fn test_code(root: &Path, p: &Path) -> Option<String> {
    let rel = p
        .strip_prefix(root)
        .ok()?
        .to_string_lossy()
        .replace('\\', "/");
    if rel == SELF {
        return None;
    }
    let text = std::fs::read_to_string(p).ok()?;
    if rel.contains("/tests/") || rel.starts_with("tests/tests/") {
        return Some(text);
    }
    text.find("#[cfg(test)]").map(|i| text[i..].to_string())
}

/// Every `"RC-…"` literal (and `RC-…` inside a longer literal).
fn codes_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("RC-") {
        let start = i + at;
        let mut end = start + 3;
        while end < b.len()
            && (b[end].is_ascii_uppercase() || b[end].is_ascii_digit() || b[end] == b'-')
        {
            end += 1;
        }
        let code = text[start..end].trim_end_matches('-');
        // RC-AREA-NNN or RC-AREA-WNN
        let parts: Vec<&str> = code.split('-').collect();
        if parts.len() == 3 && parts[2].len() == 3 {
            out.insert(code.to_string());
        }
        i = end;
    }
    out
}

#[test]
fn every_code_is_produced_by_a_test() {
    let root = repo_root();
    let mut files = Vec::new();
    for d in ["core", "host-std", "host-embedded", "tests"] {
        rs_files(&root.join(d), &mut files);
    }
    files.sort();
    let mut by_code: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let Some(code) = test_code(&root, f) else {
            continue;
        };
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        for c in codes_in(&code) {
            by_code.entry(c).or_default().push(rel.clone());
        }
    }
    let catalogue: Vec<&str> = raconn_core::catalogue::all().map(|c| c.code).collect();
    let unreachable: BTreeSet<&str> = UNREACHABLE.iter().map(|(c, _)| *c).collect();
    let mut missing = Vec::new();
    for c in &catalogue {
        let tested = by_code.contains_key(*c);
        if unreachable.contains(c) {
            assert!(
                !tested,
                "{c} is listed as unreachable, yet a test asserts it: {:?}",
                by_code[*c]
            );
        } else if !tested {
            missing.push(*c);
        }
    }
    for (c, why) in UNREACHABLE {
        assert!(catalogue.contains(c), "{c} is not in the catalogue ({why})");
    }
    // Codes asserted by tests but not in the catalogue (renamed or misspelt).
    let unknown: Vec<&String> = by_code
        .keys()
        // RC-NOPE-999 is the unknown code `raconn explain` is tested with.
        .filter(|c| c.as_str() != "RC-NOPE-999" && raconn_core::catalogue::lookup(c).is_none())
        .collect();
    let tested = catalogue.len() - missing.len() - unreachable.len();
    eprintln!(
        "{} codes in the catalogue: {tested} asserted by tests, {} unreachable by design, {} not produced by any test",
        catalogue.len(),
        unreachable.len(),
        missing.len()
    );
    if std::env::var_os("RACONN_CODE_TABLE").is_some() {
        for (c, files) in &by_code {
            eprintln!("{c}: {}", files.join(", "));
        }
    }
    assert!(
        unknown.is_empty(),
        "tests assert codes that are in no catalogue: {unknown:?}"
    );
    assert!(missing.is_empty(), "codes no test produces: {missing:?}");
}
