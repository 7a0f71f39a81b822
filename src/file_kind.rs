//! What kind of file a path holds, in words for an error message.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// What makes `meta` something the agent must not write, if anything:
/// not a regular file, or a regular file with more than one name (a hard
/// link planted to a file elsewhere).
pub fn describe_non_regular(meta: &std::fs::Metadata) -> Option<String> {
    let t = meta.file_type();
    let what = if t.is_file() {
        if meta.nlink() > 1 {
            return Some(format!("a file with {} hard links", meta.nlink()));
        }
        return None;
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Some(what.into())
}
