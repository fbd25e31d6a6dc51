//! Host files and the host clock over ARM semihosting (QEMU
//! `-semihosting-config enable=on,target=native`): the flash image a run
//! starts from, the same file written through on every flash write (so a
//! run killed at any point leaves the flash as a power cut would), the
//! issued certificate, and the time.

use cortex_m_semihosting::{nr, syscall};
use embedded_storage_async::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use raconn_embedded::ram_flash::RamFlash;

/// Opens `name` (NUL-terminated) with a semihosting open mode.
fn open(name: &str, mode: usize) -> Option<usize> {
    let n = name.as_bytes();
    // SAFETY: SYS_OPEN with a pointer to a live, NUL-terminated name.
    let fd = unsafe { syscall!(OPEN, n.as_ptr(), mode, n.len().saturating_sub(1)) } as isize;
    (fd >= 0).then_some(fd as usize)
}

fn close(fd: usize) {
    // SAFETY: a descriptor from SYS_OPEN.
    unsafe { syscall!(CLOSE, fd) };
}

/// Reads the whole host file `name` into `out`; `None` when it is absent.
pub fn read(name: &str, out: &mut [u8]) -> Option<usize> {
    let fd = open(name, nr::open::R_BINARY)?;
    // SAFETY: SYS_FLEN / SYS_READ on an open descriptor into `out`.
    let len = unsafe { syscall!(FLEN, fd) };
    let n = len.min(out.len());
    let left = unsafe { syscall!(READ, fd, out.as_mut_ptr(), n) };
    close(fd);
    (left == 0).then_some(n)
}

/// Writes `data` to the host file `name` (created or truncated).
pub fn write(name: &str, data: &[u8]) -> Result<(), ()> {
    let fd = open(name, nr::open::W_TRUNC_BINARY).ok_or(())?;
    // SAFETY: SYS_WRITE from live data to an open descriptor.
    let left = unsafe { syscall!(WRITE, fd, data.as_ptr(), data.len()) };
    close(fd);
    if left == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// Seconds since 1970 by the host's clock.
pub fn time() -> i64 {
    // SAFETY: SYS_TIME takes no argument.
    unsafe { syscall!(TIME) as i64 }
}

/// A RAM flash whose every erase and write is written through to a host
/// file at the same offset: NOR flash that survives QEMU being killed.
pub struct HostFlash<'a, const N: usize> {
    ram: &'a mut RamFlash<N>,
    /// The image file; `None`: RAM only (the offline half).
    fd: Option<usize>,
}

impl<'a, const N: usize> HostFlash<'a, N> {
    /// Loads the host file `name` into `ram` (the rest erased) and keeps
    /// it open for writing; `None` when there is no such file.
    pub fn open(name: &str, ram: &'a mut RamFlash<N>) -> Option<Self> {
        ram.as_mut_bytes().fill(0xff);
        read(name, ram.as_mut_bytes())?;
        let fd = open(name, nr::open::RW_BINARY)?;
        Some(HostFlash { ram, fd: Some(fd) })
    }

    /// `ram` alone, written through to no file: the offline half's flash,
    /// of the same type as the online half's so that the store's code is
    /// in the image once.
    pub fn in_memory(ram: &'a mut RamFlash<N>) -> Self {
        HostFlash { ram, fd: None }
    }

    fn persist(&mut self, from: usize, to: usize) -> Result<(), NorFlashErrorKind> {
        let Some(fd) = self.fd else { return Ok(()) };
        let bytes = self
            .ram
            .as_bytes()
            .get(from..to)
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        // SAFETY: SYS_SEEK / SYS_WRITE on the open image file from flash contents.
        let seek = unsafe { syscall!(SEEK, fd, from) };
        let left = unsafe { syscall!(WRITE, fd, bytes.as_ptr(), bytes.len()) };
        if seek == 0 && left == 0 {
            Ok(())
        } else {
            Err(NorFlashErrorKind::Other)
        }
    }
}

impl<const N: usize> Drop for HostFlash<'_, N> {
    fn drop(&mut self) {
        if let Some(fd) = self.fd {
            close(fd);
        }
    }
}

impl<const N: usize> ErrorType for HostFlash<'_, N> {
    type Error = NorFlashErrorKind;
}

impl<const N: usize> ReadNorFlash for HostFlash<'_, N> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.ram.read(offset, bytes).await
    }

    fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize> NorFlash for HostFlash<'_, N> {
    const WRITE_SIZE: usize = RamFlash::<N>::WRITE_SIZE;
    const ERASE_SIZE: usize = RamFlash::<N>::ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.ram.erase(from, to).await?;
        self.persist(from as usize, to as usize)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.ram.write(offset, bytes).await?;
        self.persist(offset as usize, offset as usize + bytes.len())
    }
}
