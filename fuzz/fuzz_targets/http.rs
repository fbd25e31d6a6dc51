//! The sans-IO HTTP reply reader never panics, whatever bytes arrive and in
//! whatever pieces: fed at once or byte-group by byte-group (the first input
//! byte picks the piece size) it reaches the same result, and a body it
//! returns lies inside the buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raconn_core::http::{Progress, ReplyReader};

fn read(data: &[u8], step: usize) -> Result<(u16, Vec<u8>), String> {
    let mut buf = vec![0u8; data.len()];
    let mut r = ReplyReader::new(4096);
    let mut filled = 0;
    while filled < data.len() {
        let n = step.min(data.len() - filled);
        buf[filled..filled + n].copy_from_slice(&data[filled..filled + n]);
        filled += n;
        match r.advance(&mut buf, filled) {
            Ok(Progress::Done(rep)) => {
                assert!(rep.body.end <= filled);
                return Ok((rep.status, buf[rep.body].to_vec()));
            }
            Ok(Progress::NeedMore) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    match r.on_close(&mut buf, filled) {
        Ok(rep) => {
            assert!(rep.body.end <= filled);
            Ok((rep.status, buf[rep.body].to_vec()))
        }
        Err(e) => Err(e.to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(*first % 16) + 1;
    let whole = read(rest, rest.len().max(1));
    let pieces = read(rest, step);
    // A reply complete before its end is complete in pieces too; errors may
    // differ only in when they are seen, not whether.
    assert_eq!(whole.is_ok(), pieces.is_ok(), "{whole:?} vs {pieces:?}");
    // A proxy's answer to CONNECT: the head's end, or a refusal; fed whole
    // or cut short, never a panic, and an open tunnel never ends past the input.
    if let Ok(Some(n)) = raconn_core::http::read_connect_reply(rest) {
        assert!(n <= rest.len());
    }
    let _ = raconn_core::http::read_connect_reply(&rest[..rest.len() / 2]);
    if let (Ok(a), Ok(b)) = (&whole, &pieces) {
        assert_eq!(a, b);
    }
});
