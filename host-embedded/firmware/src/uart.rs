//! A network for QEMU's mps2-an386 board: its CMSDK APB UART0 (QEMU
//! `-serial tcp:127.0.0.1:PORT`) carries framed TCP connections to a relay
//! on the host (`tests/examples/qemu_issuance.rs`), which opens them on
//! loopback only.
//!
//! ```text
//! frame: type:u8  connection:u8  length:u16 (big-endian)  payload
//!   1 OPEN    firmware → relay   "host:port"
//!   2 OPENED  relay → firmware   (empty)
//!   5 FAILED  relay → firmware   why (text)
//!   3 DATA    both ways          bytes
//!   4 CLOSE   both ways          (empty)
//! ```
//! Each connection has its own number, so a frame of a connection already
//! closed is recognised and skipped.

use embedded_io_async::{ErrorType, Read, Write};
use raconn_embedded::client::Connect;
use raconn_embedded::error::EmbeddedError;

const OPEN: u8 = 1;
const OPENED: u8 = 2;
const DATA: u8 = 3;
const CLOSE: u8 = 4;
const FAILED: u8 = 5;

/// CMSDK APB UART0 of the MPS2 boards.
const BASE: usize = 0x4000_4000;
const DATA_REG: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const BAUDDIV: usize = BASE + 0x10;

fn reg_read(a: usize) -> u32 {
    // SAFETY: a CMSDK UART register of the board.
    unsafe { (a as *const u32).read_volatile() }
}

fn reg_write(a: usize, v: u32) {
    // SAFETY: a CMSDK UART register of the board.
    unsafe { (a as *mut u32).write_volatile(v) }
}

fn put(b: u8) {
    while reg_read(STATE) & 1 != 0 {}
    reg_write(DATA_REG, u32::from(b));
}

fn get() -> u8 {
    while reg_read(STATE) & 2 == 0 {}
    reg_read(DATA_REG) as u8
}

fn put_all(b: &[u8]) {
    for x in b {
        put(*x);
    }
}

fn frame(kind: u8, conn: u8, payload: &[u8]) {
    let n = payload.len().min(u16::MAX as usize);
    put_all(&[kind, conn, (n >> 8) as u8, n as u8]);
    put_all(payload.get(..n).unwrap_or(&[]));
}

fn header() -> (u8, u8, usize) {
    let h = [get(), get(), get(), get()];
    (h[0], h[1], usize::from(h[2]) << 8 | usize::from(h[3]))
}

fn skip(n: usize) {
    for _ in 0..n {
        get();
    }
}

/// The UART link: one connection at a time.
pub struct UartLink {
    next: u8,
    up: bool,
}

impl UartLink {
    /// Enables the UART (transmit and receive).
    pub fn new() -> Self {
        reg_write(BAUDDIV, 16);
        reg_write(CTRL, 0b11);
        UartLink { next: 0, up: true }
    }

    /// A board whose network is not there (the offline half, booted with no
    /// relay; QEMU's UART is then the console): every connection fails
    /// with `RC-EMB-011` and nothing is written to the UART. The same type
    /// as the online half's, so the issuance code is in the image once.
    pub fn absent() -> Self {
        UartLink { next: 0, up: false }
    }
}

/// One framed connection.
pub struct UartSocket {
    conn: u8,
    /// Payload bytes of the current DATA frame not read yet.
    pending: usize,
    closed: bool,
}

impl ErrorType for UartSocket {
    type Error = embedded_io::ErrorKind;
}

impl Read for UartSocket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pending > 0 {
                let n = self.pending.min(buf.len());
                for b in buf.iter_mut().take(n) {
                    *b = get();
                }
                self.pending -= n;
                return Ok(n);
            }
            if self.closed {
                return Ok(0);
            }
            let (kind, conn, len) = header();
            if conn != self.conn {
                skip(len);
                continue;
            }
            match kind {
                DATA => self.pending = len,
                CLOSE => {
                    skip(len);
                    self.closed = true;
                }
                _ => {
                    skip(len);
                    return Err(embedded_io::ErrorKind::InvalidData);
                }
            }
        }
    }
}

impl Write for UartSocket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if self.closed {
            return Err(embedded_io::ErrorKind::NotConnected);
        }
        let n = buf.len().min(2048);
        frame(DATA, self.conn, buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl Drop for UartSocket {
    fn drop(&mut self) {
        // The rest of a DATA frame the connection did not read (a TLS
        // close_notify after the reply, say) is still on the wire: drain it,
        // or the next frame header would be read from inside it.
        skip(self.pending);
        self.pending = 0;
        frame(CLOSE, self.conn, &[]);
    }
}

impl Connect for UartLink {
    type Socket = UartSocket;

    async fn connect(&mut self, host: &str, port: u16) -> Result<UartSocket, EmbeddedError> {
        if !self.up {
            return Err(EmbeddedError::Io);
        }
        self.next = self.next.wrapping_add(1);
        let conn = self.next;
        let mut target = [0u8; 270];
        let mut w = raconn_embedded::raconn_core::buf::SliceWriter::new(&mut target);
        w.put(host.as_bytes());
        w.put(b":");
        // The port in decimal, most significant digit first.
        let mut div = 10_000u16;
        let mut started = false;
        while div > 0 {
            let d = (port / div) % 10;
            if d != 0 || started || div == 1 {
                w.put(&[b'0' + d as u8]);
                started = true;
            }
            div /= 10;
        }
        let t = w.finish("connect target").map_err(|_| EmbeddedError::Io)?;
        frame(OPEN, conn, t);
        loop {
            let (kind, c, len) = header();
            if c != conn {
                skip(len);
                continue;
            }
            skip(len);
            return match kind {
                OPENED => Ok(UartSocket {
                    conn,
                    pending: 0,
                    closed: false,
                }),
                FAILED => Err(EmbeddedError::Io),
                _ => Err(EmbeddedError::Io),
            };
        }
    }

    async fn wait(&mut self, ms: u32) {
        // No timer on this board model: spin about `ms` at QEMU's pace.
        let t0 = crate::hostfs::time();
        let end = t0 + i64::from(ms.div_ceil(1000));
        while crate::hostfs::time() < end {}
    }
}
