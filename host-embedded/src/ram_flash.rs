//! A NOR flash in a byte array (`embedded-storage-async` 0.4): erase sets
//! 0xFF, a write can only clear bits, as on real NOR parts. It carries a
//! flash image into firmware that has no flash driver yet (the QEMU image),
//! and makes flash images on a host (`tests/examples/flash_image.rs`).

use embedded_storage_async::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

/// `N` bytes of NOR flash with 4-byte words and 8 KiB erase pages.
pub struct RamFlash<const N: usize> {
    data: [u8; N],
}

impl<const N: usize> RamFlash<N> {
    /// Erased flash.
    pub const fn new() -> Self {
        RamFlash { data: [0xff; N] }
    }

    /// All-zero contents, for a `static` in `.bss` (no 0xFF image in
    /// `.data`); call [`Self::load`] before use.
    pub const fn zeroed() -> Self {
        RamFlash { data: [0; N] }
    }

    /// Flash holding `image` (shorter images leave the rest erased).
    pub fn from_image(image: &[u8]) -> Self {
        let mut f = Self::new();
        f.load(image);
        f
    }

    /// Replaces the contents with `image`, the rest erased.
    pub fn load(&mut self, image: &[u8]) {
        self.data.fill(0xff);
        for (d, s) in self.data.iter_mut().zip(image) {
            *d = *s;
        }
    }

    /// The contents.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The contents, to fill from an image in place (no second buffer).
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.data
    }

    fn range(
        &self,
        offset: u32,
        len: usize,
        align: usize,
    ) -> Result<core::ops::Range<usize>, NorFlashErrorKind> {
        let start = offset as usize;
        let end = start
            .checked_add(len)
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        if end > N {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(NorFlashErrorKind::NotAligned);
        }
        Ok(start..end)
    }
}

impl<const N: usize> Default for RamFlash<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ErrorType for RamFlash<N> {
    type Error = NorFlashErrorKind;
}

impl<const N: usize> ReadNorFlash for RamFlash<N> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let r = self.range(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(self.data.get(r).ok_or(NorFlashErrorKind::OutOfBounds)?);
        Ok(())
    }

    fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize> NorFlash for RamFlash<N> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 8192;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        let r = self.range(from, len, Self::ERASE_SIZE)?;
        self.data
            .get_mut(r)
            .ok_or(NorFlashErrorKind::OutOfBounds)?
            .fill(0xff);
        Ok(())
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let r = self.range(offset, bytes.len(), Self::WRITE_SIZE)?;
        for (d, s) in self
            .data
            .get_mut(r)
            .ok_or(NorFlashErrorKind::OutOfBounds)?
            .iter_mut()
            .zip(bytes)
        {
            *d &= *s;
        }
        Ok(())
    }
}
