//! The Unix socket file is created and re-permissioned without ever
//! touching a path someone else could have swapped for a symlink: the
//! socket is bound (or moved) into a private 0700 directory the agent
//! created beside it, its mode and group are set there, and it is renamed
//! into place. `rename` replaces a directory entry; it never follows a
//! link at the destination.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// (device, inode) of the socket file the agent created.
pub(super) type FileId = (u64, u64);

/// A directory only the agent can enter; removed (with whatever the agent
/// left in it) when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    /// `.<name>.<pid>.<n>.d` beside `socket`; a name already taken (maybe
    /// planted) is skipped, never reused.
    fn beside(socket: &Path) -> std::io::Result<PrivateDir> {
        let parent = socket.parent().unwrap_or(Path::new("/"));
        let name = socket
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut last = None;
        for n in 0..16 {
            let dir = parent.join(format!(".{name}.{}.{n}.d", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(PrivateDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free private directory name")))
    }

    fn socket(&self) -> PathBuf {
        self.0.join("socket")
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // Only the agent could have put anything here.
        let _ = std::fs::remove_file(self.socket());
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn id_of(md: &std::fs::Metadata) -> FileId {
    (md.dev(), md.ino())
}

fn apply(file: &Path, mode: u32, gid: Option<u32>) -> std::io::Result<()> {
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(file, None, Some(gid))?;
    }
    Ok(())
}

/// Bind a listening socket at `path` with `mode` and `gid` already set
/// when it appears there (nobody can connect before they are right).
pub(super) fn bind(
    path: &Path,
    mode: u32,
    gid: Option<u32>,
) -> std::io::Result<(tokio::net::UnixListener, FileId)> {
    let private = PrivateDir::beside(path)?;
    let inside = private.socket();
    let listener = tokio::net::UnixListener::bind(&inside)?;
    apply(&inside, mode, gid)?;
    let id = id_of(&std::fs::symlink_metadata(&inside)?);
    std::fs::rename(&inside, path)?;
    Ok((listener, id))
}

/// Whether `path` is still the socket file `id`, without following links.
pub(super) fn is_ours(path: &Path, id: FileId) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|md| md.file_type().is_socket() && id_of(&md) == id)
}

/// Change the mode and group of the socket `id` at `path`. Refused when
/// the path is no longer that socket (replaced, e.g. by a symlink): the
/// entry is moved into a private directory, checked there, changed, and
/// moved back, so what is changed is always the agent's own socket.
pub(super) fn set_permissions(
    path: &Path,
    id: FileId,
    mode: u32,
    gid: Option<u32>,
) -> std::io::Result<()> {
    let not_ours = || {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the path is no longer the socket this agent created (replaced or a link); left untouched",
        )
    };
    if !is_ours(path, id) {
        return Err(not_ours());
    }
    let private = PrivateDir::beside(path)?;
    let inside = private.socket();
    std::fs::rename(path, &inside)?;
    if !is_ours(&inside, id) {
        // Swapped between the check and the move: put it back as it was.
        let _ = std::fs::rename(&inside, path);
        return Err(not_ours());
    }
    let applied = apply(&inside, mode, gid);
    std::fs::rename(&inside, path)?;
    applied
}
