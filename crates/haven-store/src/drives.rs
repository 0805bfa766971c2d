//! The [`Drives`] port over directories: `<root>/assets/<asset>/homes/<user>` (N:),
//! `<root>/assets/<asset>/shared` (S:) and `<root>/assets/<asset>/outputs`, root's and 0700 until
//! a session's identities are given them ([`Drives::grant`]). A file is written whole into
//! `<root>/.incoming/` (outside every drive, so no session sees it half-written), fsynced, then
//! hard-linked under its name, which fails rather than replace a file already there, and the
//! directory synced. Writes into one drive take turns, so two cannot both fit under its quota
//! and together exceed it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use haven_core::blobs::ByteStream;
use haven_core::workspaces::drives::{Drive, DriveError, Drives, Entry, numbered};
use tokio::task::spawn_blocking;

pub struct LocalDrives {
    root: PathBuf,
    /// One lock per drive that is being written.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn io(e: std::io::Error) -> DriveError {
    match e.kind() {
        std::io::ErrorKind::NotFound => DriveError::NotFound,
        _ => DriveError::Io(e.to_string()),
    }
}

fn joined(e: tokio::task::JoinError) -> DriveError {
    DriveError::Io(e.to_string())
}

/// A name for one path component: no separators, not hidden, not `.` or `..`, no NUL.
fn check_name(name: &str) -> Result<(), DriveError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) || name.len() > 255 {
        return Err(DriveError::BadName(format!("{name:?} cannot be a file's name in a drive")));
    }
    Ok(())
}

impl LocalDrives {
    /// Drives under `root` (created 0700 if missing).
    pub fn new(root: PathBuf, clock: &dyn haven_core::Clock) -> Result<Self, DriveError> {
        make_dirs(&root).map_err(io)?;
        remove_stale(&root.join(".incoming"), std::time::SystemTime::from(clock.now()));
        Ok(LocalDrives { root, turns: Mutex::new(HashMap::new()) })
    }

    fn dir(&self, drive: &Drive) -> Result<PathBuf, DriveError> {
        let rel = drive.relative_path();
        // The ids are checked where they are made; this keeps a bad one from leaving the root.
        for part in rel.split('/') {
            check_name(part)?;
        }
        Ok(self.root.join(rel))
    }

    fn turn(&self, drive: &Drive) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        turns.retain(|_, lock| Arc::strong_count(lock) > 1);
        turns.entry(drive.relative_path()).or_default().clone()
    }
}

#[async_trait]
impl Drives for LocalDrives {
    async fn place(
        &self,
        drive: &Drive,
        name: &str,
        size: u64,
        quota: u64,
        mut data: ByteStream,
    ) -> Result<String, DriveError> {
        check_name(name)?;
        let dir = self.dir(drive)?;
        let turn = self.turn(drive);
        let _turn = turn.lock().await;
        let used = self.usage(drive).await?;
        if used.saturating_add(size) > quota {
            return Err(DriveError::Full { drive: drive.label(), used, quota, need: size });
        }
        let incoming = self.root.join(".incoming");
        let (file, temp) = spawn_blocking(move || -> std::io::Result<_> {
            make_dirs(&incoming)?;
            // 0600, and removed when dropped.
            Ok(tempfile::Builder::new().tempfile_in(&incoming)?.into_parts())
        })
        .await
        .map_err(joined)?
        .map_err(io)?;
        // `temp` removes the file when dropped: on any error below, and if this future is dropped.
        let mut file = tokio::fs::File::from_std(file);
        let mut written: u64 = 0;
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|e| DriveError::Input(e.to_string()))?;
            written += chunk.len() as u64;
            if written > size {
                return Err(DriveError::Input(format!("more than the {size} bytes expected")));
            }
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(io)?;
        }
        if written != size {
            return Err(DriveError::Input(format!("{written} of {size} bytes")));
        }
        // tokio reports a write's error on the next call: flush, so that the last one is seen.
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(io)?;
        let file = file.into_std().await;
        let name = name.to_string();
        spawn_blocking(move || -> std::io::Result<String> {
            file.sync_all()?;
            if file.metadata()?.len() != size {
                return Err(std::io::Error::other("the file on disk is not the size written"));
            }
            make_dirs(&dir)?;
            // Owner, group and mode set on the open file before it has a name in the drive: a
            // session cannot swap a link in for it first.
            take_drive_ownership(&dir, &file)?;
            let mut n = 1;
            let placed = loop {
                let candidate = if n == 1 { name.clone() } else { numbered(&name, n) };
                match std::fs::hard_link(&temp, dir.join(&candidate)) {
                    Ok(()) => break candidate,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                    Err(e) => return Err(e),
                }
            };
            drop(temp);
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(placed)
        })
        .await
        .map_err(joined)?
        .map_err(io)
    }

    async fn open(&self, drive: &Drive, path: &str) -> Result<(ByteStream, u64), DriveError> {
        let dir = self.dir(drive)?;
        let parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
        for part in &parts {
            check_name(part)?;
        }
        let (file, size) = spawn_blocking(move || open_beneath(&dir, &parts)).await.map_err(joined)??;
        let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 64 * 1024);
        Ok((Box::pin(stream), size))
    }

    async fn remove(&self, drive: &Drive, name: &str) -> Result<(), DriveError> {
        check_name(name)?;
        let path = self.dir(drive)?.join(name);
        spawn_blocking(move || std::fs::remove_file(path)).await.map_err(joined)?.map_err(io)
    }

    async fn tail(&self, drive: &Drive, name: &str, max: u64) -> Result<(bytes::Bytes, u64), DriveError> {
        check_name(name)?;
        let path = self.dir(drive)?.join(name);
        spawn_blocking(move || -> std::io::Result<(bytes::Bytes, u64)> {
            use rustix::fs::{Mode, OFlags};
            use std::io::{Read, Seek, SeekFrom};
            let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            let mut file = std::fs::File::from(fd);
            let size = file.metadata()?.len();
            let from = size.saturating_sub(max);
            file.seek(SeekFrom::Start(from))?;
            let mut text = Vec::with_capacity(usize::try_from(size - from).unwrap_or(0));
            file.take(size - from).read_to_end(&mut text)?;
            Ok((text.into(), size))
        })
        .await
        .map_err(joined)?
        .map_err(io)
    }

    async fn list(&self, drive: &Drive, dir: &str) -> Result<Vec<Entry>, DriveError> {
        let path = self.dir(drive)?;
        let parts: Vec<String> = dir.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
        for part in &parts {
            check_name(part)?;
        }
        let top = parts.is_empty();
        spawn_blocking(move || list_beneath(&path, &parts, top)).await.map_err(joined)?
    }

    async fn erase_asset(&self, asset: &str) -> Result<bool, DriveError> {
        check_name(asset)?;
        let dir = self.root.join("assets").join(asset);
        spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                if let Some(parent) = dir.parent() {
                    std::fs::File::open(parent)?.sync_all()?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
        .await
        .map_err(joined)?
        .map_err(io)
    }

    async fn grant(&self, drive: &Drive, uid: u32, gid: u32) -> Result<(), DriveError> {
        let dir = self.dir(drive)?;
        // S: and outputs: setgid (new files take the asset's group) and sticky (a member removes
        // only their own files, and none of the arrivals).
        let mode = if matches!(drive, Drive::Home { .. }) { 0o700 } else { 0o3770 };
        spawn_blocking(move || -> std::io::Result<()> {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            make_dirs(&dir)?;
            let meta = dir.symlink_metadata()?;
            if (meta.uid(), meta.gid()) != (uid, gid) {
                std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))?;
                hand_over(&dir, uid, gid, mode & 0o070 != 0)?;
            }
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
        })
        .await
        .map_err(joined)?
        .map_err(io)
    }

    async fn usage(&self, drive: &Drive) -> Result<u64, DriveError> {
        let dir = self.dir(drive)?;
        spawn_blocking(move || bytes_under(&dir)).await.map_err(joined)?.map_err(io)
    }
}

/// The deepest folder the usage walk follows (a session could build a deeper tree to make Haven
/// run out of file descriptors or path length).
const MAX_DEPTH: usize = 64;

/// The bytes of the regular files under `dir`, walked without recursion, each folder opened from
/// its parent (`openat`, `O_NOFOLLOW`) only when its turn comes (so at most one open folder per
/// level), and entries looked at without following them: a folder a session swaps for a link
/// mid-walk is skipped, never counted through. What vanishes meanwhile (a session deleting) is
/// skipped. A missing drive holds none.
fn bytes_under(dir: &Path) -> std::io::Result<u64> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use std::rc::Rc;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let top = match rustix::fs::open(dir, flags, Mode::empty()) {
        Err(rustix::io::Errno::NOENT) => return Ok(0),
        other => other?,
    };
    let mut total: u64 = 0;
    // (the folder's parent, its name, its depth); the top has no name.
    let mut todo: Vec<(Rc<std::os::fd::OwnedFd>, Option<std::ffi::CString>, usize)> = vec![(Rc::new(top), None, 0)];
    while let Some((parent, name, depth)) = todo.pop() {
        let folder = match name {
            None => parent,
            Some(name) => match rustix::fs::openat(&*parent, name.as_c_str(), flags, Mode::empty()) {
                Ok(fd) => Rc::new(fd),
                // Gone, or swapped for a link or a file: not counted through.
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => continue,
                Err(e) => return Err(e.into()),
            },
        };
        for entry in rustix::fs::Dir::read_from(&*folder)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let Ok(st) = rustix::fs::statat(&*folder, name, AtFlags::SYMLINK_NOFOLLOW) else { continue };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    if depth >= MAX_DEPTH {
                        return Err(std::io::Error::other(format!("folders nested deeper than {MAX_DEPTH} levels")));
                    }
                    todo.push((folder.clone(), Some(name.to_owned()), depth + 1));
                }
                FileType::RegularFile => total = total.saturating_add(u64::try_from(st.st_size).unwrap_or(0)),
                _ => {}
            }
        }
    }
    Ok(total)
}

/// The entries of `parts` under the drive at `drive`, each folder opened from the one before
/// (`openat`) with `O_NOFOLLOW`, and each entry looked at without following it: a session that
/// swaps a folder for a link to elsewhere on the host, even mid-walk, gets "not found", never
/// Haven's (root's) view of the link's target. A drive nobody has written to yet is empty.
/// The regular file at `parts` under `drive`, each folder opened from its parent and the file
/// itself without following a link (nor waiting on a FIFO), and its size.
fn open_beneath(drive: &Path, parts: &[String]) -> Result<(std::fs::File, u64), DriveError> {
    use rustix::fs::{FileType, Mode, OFlags};
    let not_found = |e: rustix::io::Errno| match e {
        rustix::io::Errno::NOENT | rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => DriveError::NotFound,
        other => DriveError::Io(other.to_string()),
    };
    let Some((name, folders)) = parts.split_last() else { return Err(DriveError::NotFound) };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(drive, flags, Mode::empty()).map_err(not_found)?;
    for part in folders {
        dir = rustix::fs::openat(&dir, part.as_str(), flags, Mode::empty()).map_err(not_found)?;
    }
    let file = rustix::fs::openat(
        &dir,
        name.as_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(not_found)?;
    let st = rustix::fs::fstat(&file).map_err(|e| DriveError::Io(e.to_string()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(DriveError::BadName(format!("{name} is not a file")));
    }
    // Reads block as usual from here (a regular file never waits).
    let flags = rustix::fs::fcntl_getfl(&file).map_err(|e| DriveError::Io(e.to_string()))?;
    rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(|e| DriveError::Io(e.to_string()))?;
    Ok((file.into(), u64::try_from(st.st_size).unwrap_or(0)))
}

fn list_beneath(drive: &Path, parts: &[String], top: bool) -> Result<Vec<Entry>, DriveError> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let not_found = |e: rustix::io::Errno| match e {
        rustix::io::Errno::NOENT | rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => DriveError::NotFound,
        other => DriveError::Io(other.to_string()),
    };
    let mut dir = match rustix::fs::open(drive, flags, Mode::empty()) {
        Err(rustix::io::Errno::NOENT) if top => return Ok(Vec::new()),
        other => other.map_err(not_found)?,
    };
    for part in parts {
        dir = rustix::fs::openat(&dir, part.as_str(), flags, Mode::empty()).map_err(not_found)?;
    }
    let mut entries = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir).map_err(not_found)? {
        let entry = entry.map_err(|e| DriveError::Io(e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        // A session deleting meanwhile: skipped.
        let Ok(st) = rustix::fs::statat(&dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) else { continue };
        let kind = FileType::from_raw_mode(st.st_mode);
        let modified_us = st.st_mtime.saturating_mul(1_000_000) + i64::try_from(st.st_mtime_nsec / 1000).unwrap_or(0);
        entries.push(Entry {
            name,
            is_dir: kind == FileType::Directory,
            size: if kind == FileType::RegularFile { u64::try_from(st.st_size).unwrap_or(0) } else { 0 },
            modified_us,
        });
    }
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    Ok(entries)
}

/// A file Haven places gets its drive's owner and group (once the drive was given to a
/// session's identities): in N: the user's, 0600; in S: and outputs root's with the asset's group,
/// 0640, so members read an arrival but cannot change or (the drive being sticky) remove it.
fn take_drive_ownership(dir: &Path, file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = dir.metadata()?;
    if (d.uid(), d.gid()) == (0, 0) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(d.uid()), Some(d.gid()))?;
    let mode = if d.mode() & 0o070 != 0 { 0o640 } else { 0o600 };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// What Haven itself placed under `dir` (owned by root) goes to `uid` and `gid`, readable by
/// the group when `shared`: walked without links, to [`MAX_DEPTH`], each entry changed through
/// a descriptor opened without following a link. What sessions made is theirs already and left
/// alone.
fn hand_over(dir: &Path, uid: u32, gid: u32, shared: bool) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let (file_mode, dir_mode) = if shared { (0o640, 0o2750) } else { (0o600, 0o700) };
    let mut todo = vec![(dir.to_path_buf(), 0usize)];
    while let Some((folder, depth)) = todo.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let opened =
                std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(&path);
            let file = match opened {
                Ok(f) => f,
                // A link (ELOOP), or something gone or unreadable meanwhile: not Haven's to change.
                Err(_) => continue,
            };
            let meta = file.metadata()?;
            if meta.uid() != 0 {
                continue;
            }
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            if meta.is_dir() {
                file.set_permissions(std::fs::Permissions::from_mode(dir_mode))?;
                if depth < MAX_DEPTH {
                    todo.push((path, depth + 1));
                }
            } else if meta.is_file() {
                file.set_permissions(std::fs::Permissions::from_mode(file_mode))?;
            }
        }
    }
    Ok(())
}

/// Files left in `.incoming` over a day ago (a crash mid-write): plaintext outside every drive,
/// removed. Younger ones may be another process's write under way (the console's accept).
fn remove_stale(incoming: &Path, now: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(incoming) else { return };
    let day_ago = now - std::time::Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        if entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < day_ago) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates `dir` and its parents, 0700.
fn make_dirs(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn stream(chunks: Vec<Result<&'static [u8], &'static str>>) -> ByteStream {
        futures::stream::iter(
            chunks.into_iter().map(|c| c.map(Bytes::from_static).map_err(std::io::Error::other)).collect::<Vec<_>>(),
        )
        .boxed()
    }

    fn incoming(root: &Path) -> usize {
        std::fs::read_dir(root.join(".incoming")).map(|d| d.count()).unwrap_or(0)
    }

    #[tokio::test]
    async fn files_land_whole_private_and_never_over_another() {
        let root = tempfile::tempdir().unwrap();
        let drives = LocalDrives::new(root.path().join("drives"), &haven_core::clock::SystemClock).unwrap();
        let s = Drive::Shared("heart".into());
        let placed = drives.place(&s, "cohort.csv", 11, 1000, stream(vec![Ok(b"hello "), Ok(b"world")])).await;
        assert_eq!(placed.unwrap(), "cohort.csv");
        let again = drives.place(&s, "cohort.csv", 3, 1000, stream(vec![Ok(b"two")])).await.unwrap();
        assert_eq!(again, "cohort (2).csv");
        let dir = root.path().join("drives/assets/heart/shared");
        assert_eq!(std::fs::read(dir.join("cohort.csv")).unwrap(), b"hello world");
        assert_eq!(std::fs::read(dir.join("cohort (2).csv")).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&root.path().join("drives/assets")), 0o700);
            assert_eq!(mode(&dir.join("cohort.csv")), 0o600);
        }
        std::fs::create_dir(dir.join("notes")).unwrap();
        let names: Vec<_> =
            drives.list(&s, "").await.unwrap().into_iter().map(|e| (e.name, e.is_dir, e.size)).collect();
        assert_eq!(
            names,
            [("notes".into(), true, 0), ("cohort (2).csv".into(), false, 3), ("cohort.csv".into(), false, 11)]
        );
        assert_eq!(drives.usage(&s).await.unwrap(), 14);
        assert_eq!(incoming(&root.path().join("drives")), 0);
        drives.remove(&s, "cohort (2).csv").await.unwrap();
        assert_eq!(drives.usage(&s).await.unwrap(), 11);
    }

    #[tokio::test]
    async fn what_does_not_fit_or_arrive_whole_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("drives");
        let drives = LocalDrives::new(top.clone(), &haven_core::clock::SystemClock).unwrap();
        let n = Drive::Home { user: "ada".into(), asset: "heart".into() };
        drives.place(&n, "a.txt", 6, 10, stream(vec![Ok(b"123456")])).await.unwrap();
        let full = drives.place(&n, "b.txt", 5, 10, stream(vec![Ok(b"12345")])).await.unwrap_err();
        assert!(matches!(full, DriveError::Full { used: 6, quota: 10, need: 5, .. }), "{full}");
        assert!(full.to_string().contains("N: (ada's home in heart) is full"), "{full}");
        let broken = drives.place(&n, "c.txt", 4, 10, stream(vec![Ok(b"12"), Err("the source failed")])).await;
        assert!(matches!(broken, Err(DriveError::Input(_))), "{broken:?}");
        let short = drives.place(&n, "d.txt", 4, 10, stream(vec![Ok(b"12")])).await;
        assert!(matches!(short, Err(DriveError::Input(_))), "{short:?}");
        let long = drives.place(&n, "e.txt", 1, 10, stream(vec![Ok(b"12")])).await;
        assert!(matches!(long, Err(DriveError::Input(_))), "{long:?}");
        for bad in ["../escape", ".hidden", "a/b", "", "nul\0"] {
            let refused = drives.place(&n, bad, 1, 10, stream(vec![Ok(b"1")])).await;
            assert!(matches!(refused, Err(DriveError::BadName(_))), "{bad:?}: {refused:?}");
        }
        let names: Vec<_> = drives.list(&n, "").await.unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["a.txt"]);
        assert_eq!(incoming(&top), 0);

        // Dropped mid-write (the request went away): the half-written file goes with it.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let placing = drives.place(&n, "f.txt", 4, 10, rx.boxed());
        let feeding = async {
            futures::SinkExt::send(&mut tx, Ok(Bytes::from_static(b"12"))).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        tokio::select! {
            _ = placing => panic!("it cannot finish with half its bytes"),
            _ = feeding => {}
        }
        assert_eq!(incoming(&top), 0);
        assert_eq!(drives.usage(&n).await.unwrap(), 6);
    }

    #[tokio::test]
    async fn listing_stays_inside_the_drive_and_does_not_follow_links() {
        let root = tempfile::tempdir().unwrap();
        let drives = LocalDrives::new(root.path().join("drives"), &haven_core::clock::SystemClock).unwrap();
        let s = Drive::Shared("heart".into());
        assert_eq!(drives.list(&s, "").await.unwrap(), vec![], "a drive not yet written is empty");
        assert!(matches!(drives.list(&s, "missing").await, Err(DriveError::NotFound)));
        assert!(matches!(drives.list(&s, "../../other").await, Err(DriveError::BadName(_))));
        drives.place(&s, "x.csv", 1, 10, stream(vec![Ok(b"x")])).await.unwrap();
        #[cfg(unix)]
        {
            let dir = root.path().join("drives/assets/heart/shared");
            std::os::unix::fs::symlink("/etc", dir.join("etc")).unwrap();
            let listed = drives.list(&s, "").await.unwrap();
            let link = listed.iter().find(|e| e.name == "etc").unwrap();
            assert!(!link.is_dir, "a link is not shown as the folder it points to");
            assert_eq!(drives.usage(&s).await.unwrap(), 1, "nor counted");
            assert!(matches!(drives.list(&s, "etc").await, Err(DriveError::NotFound)), "nor listed through");
            // Folders within folders are counted, a link within them is not followed.
            std::fs::create_dir_all(dir.join("a/b/c")).unwrap();
            std::fs::write(dir.join("a/b/c/deep.csv"), b"12345").unwrap();
            std::fs::write(dir.join("a/top.csv"), b"12").unwrap();
            std::os::unix::fs::symlink("/usr", dir.join("a/b/usr")).unwrap();
            assert_eq!(drives.usage(&s).await.unwrap(), 1 + 5 + 2);
            let inner = drives.list(&s, "a/b").await.unwrap();
            assert_eq!(
                inner.iter().map(|e| (e.name.as_str(), e.is_dir)).collect::<Vec<_>>(),
                [("c", true), ("usr", false)]
            );
        }
    }
}
