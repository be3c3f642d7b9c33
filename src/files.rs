//! Writing the files that matter (the clients file, private keys) so that nothing else is ever
//! written through them, and nothing is left readable that should not be.
//!
//! Owns: creating a file exclusively (`O_EXCL`: anything already at the name, a planted link
//! included, makes it fail) and never through a symbolic link (`O_NOFOLLOW`), with exactly the
//! permission bits asked for (set on the open file, so the umask can neither widen nor narrow
//! them); opening a lock file that may already exist, accepted only as a regular file; and
//! replacing a file atomically: a temporary sibling made that way, written, fsynced, renamed
//! over the target (a rename replaces a link at the target rather than following it), then the
//! directory fsynced. Does not own: what the files hold or when they may be updated.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::path::{Path, PathBuf};

/// Permission bits of a file only its owner may read: private keys, the clients file.
pub const OWNER_ONLY: u32 = 0o600;

/// A file operation that failed: which file, what was being done to it, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub action: &'static str,
    #[source]
    pub source: io::Error,
}

fn failed(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> FileError {
    let path = path.to_owned();
    move |source| FileError {
        path,
        action,
        source,
    }
}

/// Options that never follow a symbolic link at the last component of the path.
fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK too: opening a FIFO planted at the name must fail, not wait for a reader.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        options.mode(OWNER_ONLY);
    }
    options
}

/// Sets exactly `mode` on an open file.
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, mode);
        Ok(())
    }
}

/// Creates `path` for writing, exclusively and never through a link, with exactly `mode`.
/// The file is created owner-only and widened to `mode` only once it is open.
pub fn create_new(path: &Path, mode: u32) -> Result<File, FileError> {
    let file = no_follow()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(failed(path, "create"))?;
    set_mode(&file, mode).map_err(failed(path, "set the permissions of"))?;
    Ok(file)
}

/// Opens the lock file `path` for writing: created exclusively (owner-only) when absent; when
/// present, opened without following a link and accepted only as a regular file, so a link or
/// a FIFO planted at the name is refused, never written through or waited on.
pub fn open_lock(path: &Path) -> Result<File, FileError> {
    match create_new(path, OWNER_ONLY) {
        Ok(file) => return Ok(file),
        Err(e) if e.source.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let file = no_follow()
        .write(true)
        .open(path)
        .map_err(failed(path, "open the lock file"))?;
    let is_file = file
        .metadata()
        .map_err(failed(path, "inspect the lock file"))?
        .is_file();
    if !is_file {
        return Err(FileError {
            path: path.to_owned(),
            action: "use as the lock file",
            source: io::Error::other("it is not a regular file"),
        });
    }
    Ok(file)
}

/// The permission bits of the file at `path`, if there is one.
pub fn mode_of(path: &Path) -> Option<u32> {
    let metadata = fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(metadata.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
    }
}

/// Replaces `path` with what `write` writes, atomically: into a new temporary sibling created
/// with exactly `mode` (see [`create_new`]), fsynced, renamed over `path`, and the directory
/// fsynced. On failure `path` is untouched and the temporary file removed.
pub fn replace(
    path: &Path,
    mode: u32,
    write: &mut dyn FnMut(&mut File) -> io::Result<()>,
) -> Result<(), FileError> {
    let tmp_path = sibling(path, &format!(".tmp.{}", std::process::id()));
    // Not ours to remove if it cannot be created: whatever is at the name stays.
    let mut tmp = create_new(&tmp_path, mode)?;
    let written = write(&mut tmp)
        .map_err(failed(&tmp_path, "write"))
        .and_then(|()| tmp.sync_all().map_err(failed(&tmp_path, "sync")))
        .and_then(|()| fs::rename(&tmp_path, path).map_err(failed(path, "replace")));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    // The rename is durable only once the directory entry is on disk.
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A fresh, empty directory for one unit test of this crate.
#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-unit-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a test directory");
    dir
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::symlink;

    #[test]
    fn new_files_get_exactly_their_mode_and_never_go_through_a_link() {
        let dir = test_dir("files-create");
        let file = dir.join("f");
        create_new(&file, 0o640).unwrap();
        assert_eq!(mode_of(&file), Some(0o640));
        let victim = dir.join("victim");
        fs::write(&victim, "keep").unwrap();
        let link = dir.join("link");
        symlink(&victim, &link).unwrap();
        assert!(create_new(&link, OWNER_ONLY).is_err());
        assert!(open_lock(&link).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn a_lock_file_is_reused_only_when_it_is_a_regular_file() {
        let dir = test_dir("files-lock");
        let lock = dir.join("lock");
        open_lock(&lock).unwrap();
        open_lock(&lock).unwrap();
        assert!(open_lock(&dir).is_err(), "a directory is not a lock file");
    }

    #[test]
    fn replace_leaves_nothing_behind_when_the_write_fails() {
        let dir = test_dir("files-replace");
        let file = dir.join("f");
        replace(&file, OWNER_ONLY, &mut |f| f.write_all(b"one")).unwrap();
        let err = replace(&file, OWNER_ONLY, &mut |_| Err(io::Error::other("full"))).unwrap_err();
        assert_eq!(err.action, "write");
        assert_eq!(fs::read_to_string(&file).unwrap(), "one");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }
}
