//! Durable writes of whole files to a local directory, past the page cache.
//!
//! A blob in the local store is written once, fsynced, and not read again until it is scanned or
//! downloaded, so copying it through the page cache buys nothing and costs much: on the 2-core
//! benchmark machine, buffered writes plus fsync spent 2.7 s of kernel CPU per GiB, O_DIRECT
//! writes 0.3 s (docs/benchmarks.md), on cores the TLS and the sealing need. object_store's
//! `LocalFileSystem` writes through the page cache, so the local store's writes come here, and its
//! reads, listing and deletes stay with object_store: the files are the same.
//!
//! A [`DirectFile`] is written in `staging/<name>` one aligned block at a time, each write on
//! the blocking pool while the next block fills (no thread waits on a slow client), then synced
//! and renamed into place. Dropped before [`DirectFile::finish`] (an error, or the request went
//! away), it removes the staging file. Where the file system refuses O_DIRECT (or a block is not
//! aligned), it carries on through the page cache: slower, never wrong.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tokio::task::{JoinHandle, spawn_blocking};

/// Buffers and write lengths are multiples of this (the largest logical block size in common
/// use); the file is cut back to its true length at the end.
const ALIGN: usize = 4096;
/// One write: large enough that the device, not the syscall, sets the pace.
const BLOCK: usize = 1024 * 1024;

/// A buffer whose data starts on an [`ALIGN`] boundary (as long as it is not grown past its
/// capacity: `Out::write` checks, and copies if it was).
struct AlignedBuf {
    vec: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn with_capacity(n: usize) -> Self {
        let mut vec: Vec<u8> = Vec::with_capacity(n + ALIGN);
        // `align_offset` may answer "cannot": then no padding, and `Out::write` copies.
        let start = match vec.as_ptr().align_offset(ALIGN) {
            s if s < ALIGN => s,
            _ => 0,
        };
        vec.resize(start, 0);
        AlignedBuf { vec, start }
    }

    fn len(&self) -> usize {
        self.vec.len() - self.start
    }

    fn data(&self) -> &[u8] {
        &self.vec[self.start..]
    }

    fn clear(&mut self) {
        self.vec.truncate(self.start);
    }
}

/// What a block's write hands back: the file, the buffer (to fill again), and how the write went.
type Written = (Staged, AlignedBuf, io::Result<()>);

enum Slot {
    Idle(Staged),
    Writing(JoinHandle<Written>),
    Done,
}

pub struct DirectFile {
    slot: Slot,
    dest: PathBuf,
    buf: AlignedBuf,
    spare: Option<AlignedBuf>,
    len: u64,
}

impl DirectFile {
    /// Opens `root/staging/<name>`, to become `root/<dest>` (a path relative to root).
    pub async fn create(root: &Path, name: &str, dest: &str) -> io::Result<Self> {
        let path = root.join("staging").join(name);
        let staged = spawn_blocking(move || Staged::open(path)).await.map_err(io::Error::other)??;
        Ok(DirectFile {
            slot: Slot::Idle(staged),
            dest: root.join(dest),
            buf: AlignedBuf::with_capacity(BLOCK * 2),
            spare: None,
            len: 0,
        })
    }

    /// The block being filled.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf.vec
    }

    /// Once the block holds [`BLOCK`] bytes or more, starts writing its aligned whole (the rest
    /// begins the next block), after the write before it has ended.
    pub async fn ship_full(&mut self) -> io::Result<()> {
        let have = self.buf.len();
        if have < BLOCK {
            return Ok(());
        }
        let mut staged = self.idle().await?;
        let whole = have - have % ALIGN;
        let mut next = self.spare.take().unwrap_or_else(|| AlignedBuf::with_capacity(BLOCK * 2));
        next.clear();
        next.vec.extend_from_slice(&self.buf.data()[whole..]);
        self.buf.vec.truncate(self.buf.start + whole);
        let full = std::mem::replace(&mut self.buf, next);
        self.len += whole as u64;
        self.slot = Slot::Writing(spawn_blocking(move || {
            let outcome = staged.write(full.data());
            (staged, full, outcome)
        }));
        Ok(())
    }

    /// Writes the rest, syncs, and moves the file into place.
    pub async fn finish(mut self) -> io::Result<()> {
        let staged = self.idle().await?;
        let rest = std::mem::replace(&mut self.buf, AlignedBuf::with_capacity(0));
        let (len, dest) = (self.len + rest.len() as u64, self.dest.clone());
        spawn_blocking(move || staged.finish(rest, len, &dest)).await.map_err(io::Error::other)?
    }

    /// Removes what was written, and returns once it is gone.
    pub async fn abort(mut self) {
        if let Ok(staged) = self.idle().await {
            let _ = spawn_blocking(move || drop(staged)).await;
        }
    }

    /// The file, once no write is under way; the error of the last write if it failed (the
    /// file is then removed).
    async fn idle(&mut self) -> io::Result<Staged> {
        match std::mem::replace(&mut self.slot, Slot::Done) {
            Slot::Idle(staged) => Ok(staged),
            Slot::Writing(w) => {
                let (staged, buf, outcome) = w.await.map_err(io::Error::other)?;
                self.spare = Some(buf);
                match outcome {
                    Ok(()) => Ok(staged),
                    Err(e) => {
                        let _ = spawn_blocking(move || drop(staged)).await;
                        Err(e)
                    }
                }
            }
            Slot::Done => Err(io::Error::other("the blob writer already ended")),
        }
    }
}

impl Drop for DirectFile {
    /// Gone unfinished (the request went away): the staging file is removed on the blocking
    /// pool, after the write under way if there is one (inline if there is no runtime left).
    fn drop(&mut self) {
        let slot = std::mem::replace(&mut self.slot, Slot::Done);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if let Slot::Idle(staged) = slot {
                drop(staged);
            }
            return;
        };
        match slot {
            Slot::Idle(staged) => {
                runtime.spawn_blocking(move || drop(staged));
            }
            Slot::Writing(w) => {
                let pool = runtime.clone();
                runtime.spawn(async move {
                    if let Ok((staged, _, _)) = w.await {
                        pool.spawn_blocking(move || drop(staged));
                    }
                });
            }
            Slot::Done => {}
        }
    }
}

/// The staging file; removed when dropped unless it was moved into place.
struct Staged {
    out: Out,
    placed: bool,
}

impl Staged {
    fn open(path: PathBuf) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            make_dir(dir)?;
        }
        Ok(Staged { out: Out::open(path)?, placed: false })
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write(data)
    }

    /// The rest (padded to a whole block for the device, then cut back), synced, renamed.
    fn finish(mut self, rest: AlignedBuf, len: u64, dest: &Path) -> io::Result<()> {
        let data = rest.data();
        let mut padded = AlignedBuf::with_capacity(data.len().next_multiple_of(ALIGN));
        padded.vec.extend_from_slice(data);
        padded.vec.resize(padded.start + data.len().next_multiple_of(ALIGN), 0);
        self.out.write(padded.data())?;
        self.out.file.set_len(len)?;
        self.out.file.sync_all()?;
        place(&self.out.path, dest)?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.out.path);
        }
    }
}

struct Out {
    file: File,
    path: PathBuf,
    direct: bool,
    /// Where the next byte goes (kept here, not read back from the file, so that a write that
    /// stops part-way is carried on from exactly where it stopped).
    pos: u64,
    /// A buffer to copy a block into when the caller's lost its alignment.
    scratch: Option<AlignedBuf>,
}

impl Out {
    fn open(path: PathBuf) -> io::Result<Self> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        #[cfg(target_os = "linux")]
        {
            let mut direct = o.clone();
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut direct, libc::O_DIRECT);
            match direct.open(&path) {
                Ok(file) => return Ok(Out { file, path, direct: true, pos: 0, scratch: None }),
                // Refused after the file was made (the kernel checks the flag last): open
                // the file it made (a fresh random name, so nobody else's) without the flag.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                    o = std::fs::OpenOptions::new();
                    o.write(true).truncate(true);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Out { file: o.open(&path)?, path, direct: false, pos: 0, scratch: None })
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.direct || data.as_ptr().align_offset(ALIGN) == 0 {
            return self.write_through(data);
        }
        let mut scratch = self.scratch.take().unwrap_or_else(|| AlignedBuf::with_capacity(data.len()));
        scratch.clear();
        scratch.vec.extend_from_slice(data);
        let outcome = self.write_through(scratch.data());
        self.scratch = Some(scratch);
        outcome
    }

    /// Writes all of `data` at the tracked position; if the file system refuses a direct write
    /// (EINVAL: it takes the flag but not the write, or a write stopped off a block boundary),
    /// carries on through the page cache from where the last write ended.
    fn write_through(&mut self, mut data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        while !data.is_empty() {
            match self.file.write_at(data, self.pos) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    data = &data[n..];
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.direct && e.kind() == io::ErrorKind::InvalidInput => {
                    self.file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
                    self.direct = false;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Renames the synced file into place and syncs both directories, so that after a crash the
/// blob has its one name. If that fails, the blob is taken out again: nothing is left behind.
fn place(staging: &Path, dest: &Path) -> io::Result<()> {
    let dir = dest.parent().ok_or_else(|| io::Error::other("a blob's path has no directory"))?;
    make_dir(dir)?;
    std::fs::rename(staging, dest)?;
    let synced = File::open(dir)
        .and_then(|d| d.sync_all())
        .and_then(|()| staging.parent().map_or(Ok(()), |s| File::open(s).and_then(|d| d.sync_all())));
    if synced.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    synced
}

/// Creates a directory (0700) and its parents, syncing the parent of each one made.
fn make_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dir(parent)?;
    }
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    match b.create(dir) {
        Ok(()) => match dir.parent() {
            Some(parent) => File::open(parent)?.sync_all(),
            None => Ok(()),
        },
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(root: &Path) -> usize {
        std::fs::read_dir(root.join("staging")).map(|d| d.count()).unwrap_or(0)
    }

    async fn write(root: &Path, data: &[u8], piece: usize) -> io::Result<()> {
        let mut f = DirectFile::create(root, "x", "objects/ab/x").await?;
        for p in data.chunks(piece) {
            f.buf().extend_from_slice(p);
            f.ship_full().await?;
        }
        f.finish().await
    }

    #[tokio::test]
    async fn files_of_every_awkward_length_come_out_whole() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * BLOCK + 12345).map(|i| (i * 31 % 251) as u8).collect();
        for len in [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BLOCK, BLOCK + 7, data.len()] {
            for piece in [1000, 65536 + 16, 3 * BLOCK] {
                write(dir.path(), &data[..len], piece).await.unwrap();
                let got = std::fs::read(dir.path().join("objects/ab/x")).unwrap();
                assert_eq!(got, &data[..len], "len {len}, pieces of {piece}");
                assert_eq!(staged(dir.path()), 0);
            }
        }
    }

    #[tokio::test]
    async fn a_file_dropped_before_it_is_finished_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for writes in [0, 1, 3] {
            let mut f = DirectFile::create(dir.path(), "y", "objects/cd/y").await.unwrap();
            for _ in 0..writes {
                f.buf().extend_from_slice(&vec![7u8; BLOCK]);
                f.ship_full().await.unwrap();
            }
            assert_eq!(staged(dir.path()), 1);
            drop(f);
            for _ in 0..100 {
                if staged(dir.path()) == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            assert_eq!(staged(dir.path()), 0, "after {writes} writes");
            assert!(!dir.path().join("objects/cd/y").exists());
        }
        // And aborted: gone when abort returns.
        let mut f = DirectFile::create(dir.path(), "y", "objects/cd/y").await.unwrap();
        f.buf().extend_from_slice(&vec![7u8; BLOCK]);
        f.ship_full().await.unwrap();
        f.abort().await;
        assert_eq!(staged(dir.path()), 0);
    }

    #[test]
    fn a_misaligned_block_is_copied_and_a_refused_direct_write_carries_on_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut out = Out::open(path.clone()).unwrap();
        let data: Vec<u8> = (0..3 * ALIGN + 1000).map(|i| (i % 251) as u8).collect();
        let mut buf = AlignedBuf::with_capacity(data.len() + 1);
        buf.vec.push(0);
        buf.vec.extend_from_slice(&data);
        // One byte off the boundary, an aligned length: copied to an aligned buffer, written direct.
        out.write(&buf.data()[1..1 + ALIGN]).unwrap();
        let direct = out.direct;
        // A length off the block size: a direct write is refused (EINVAL); the rest goes buffered.
        out.write(&data[ALIGN..]).unwrap();
        assert_eq!(out.pos, data.len() as u64);
        drop(out.file);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        if cfg!(target_os = "linux") && direct {
            assert!(!out.direct, "the refused direct write switched to the page cache");
        }
    }
}
