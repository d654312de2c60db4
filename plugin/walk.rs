//! Folder walks that always finish and read every file once: rule folders and EVTX input
//! folders are shared trees that anyone can put a symlink loop, a FIFO or an unreadable
//! folder into.
//!
//! - Symbolic links are followed, but a folder already entered (same device and inode) is
//!   not entered again: `ln -s . a` neither loops nor loads the tree twice.
//! - A file reached twice (through two links, or given twice) is listed once.
//! - Only regular files are listed. A FIFO, socket or device with a wanted name is skipped
//!   with a note: opening a FIFO would wait forever for a writer.
//! - A folder or entry that cannot be read (permissions, a dangling link) is reported
//!   with the operating system's reason, never skipped silently.
//!
//! Cost: one `stat` per entry and a hash set of the folders and files seen.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Regular files with a wanted name, sorted within each folder, each once.
    pub files: Vec<PathBuf>,
    /// Entries that could not be read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Entries skipped on purpose, with the reason (not regular files, folders already
    /// walked).
    pub skipped: Vec<(PathBuf, String)>,
}

/// The identity of a file or folder: device and inode (the canonical path elsewhere).
#[cfg(unix)]
fn identity(_path: &Path, meta: &std::fs::Metadata) -> (u64, u64, PathBuf) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), PathBuf::new())
}

#[cfg(not(unix))]
fn identity(path: &Path, _meta: &std::fs::Metadata) -> (u64, u64, PathBuf) {
    (
        0,
        0,
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
    )
}

/// Walks `roots`. A root that is a file is listed as given (whatever its name or type: the
/// user named it); a root folder is walked for files for which `wanted` is true.
pub fn walk(roots: &[PathBuf], wanted: &dyn Fn(&Path) -> bool) -> Walk {
    let mut w = Walk::default();
    let mut seen = HashSet::new();
    for root in roots {
        match std::fs::metadata(root) {
            Err(e) => w.unreadable.push((root.clone(), e.to_string())),
            Ok(meta) if meta.is_dir() => {
                if seen.insert(identity(root, &meta)) {
                    folder(root, wanted, &mut seen, &mut w);
                }
            }
            Ok(meta) => {
                if seen.insert(identity(root, &meta)) {
                    w.files.push(root.clone());
                }
            }
        }
    }
    w
}

fn folder(
    dir: &Path,
    wanted: &dyn Fn(&Path) -> bool,
    seen: &mut HashSet<(u64, u64, PathBuf)>,
    w: &mut Walk,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            w.unreadable.push((dir.to_path_buf(), e.to_string()));
            return;
        }
    };
    let mut paths = Vec::new();
    for e in entries {
        match e {
            Ok(e) => paths.push(e.path()),
            Err(e) => w.unreadable.push((dir.to_path_buf(), e.to_string())),
        }
    }
    paths.sort();
    for p in paths {
        // Follows links: a link to a folder is walked, a link to a file is listed.
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                w.unreadable.push((p, e.to_string()));
                continue;
            }
        };
        if meta.is_dir() {
            if seen.insert(identity(&p, &meta)) {
                folder(&p, wanted, seen, w);
            } else {
                w.skipped.push((
                    p,
                    "a folder already walked (a link back into the tree)".into(),
                ));
            }
        } else if wanted(&p) {
            if !meta.is_file() {
                w.skipped
                    .push((p, "not a regular file (a FIFO, socket or device)".into()));
            } else if seen.insert(identity(&p, &meta)) {
                w.files.push(p);
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sigma-walk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn yml(p: &Path) -> bool {
        p.extension().is_some_and(|e| e == "yml")
    }

    #[test]
    fn symlink_loops_end_and_every_file_is_listed_once() {
        let d = scratch("loops");
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("a.yml"), "x").unwrap();
        std::fs::write(d.join("sub/b.yml"), "x").unwrap();
        std::fs::write(d.join("c.txt"), "x").unwrap();
        std::os::unix::fs::symlink(".", d.join("self")).unwrap();
        std::os::unix::fs::symlink(".", d.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/parent")).unwrap();
        std::os::unix::fs::symlink("a.yml", d.join("again.yml")).unwrap();
        std::os::unix::fs::symlink("missing.yml", d.join("dangling.yml")).unwrap();
        let w = walk(&[d.clone(), d.join("a.yml")], &yml);
        assert_eq!(w.files, [d.join("a.yml"), d.join("sub/b.yml")]);
        assert_eq!(w.skipped.len(), 3, "{:?}", w.skipped);
        assert_eq!(w.unreadable.len(), 1, "{:?}", w.unreadable);
        assert_eq!(w.unreadable[0].0, d.join("dangling.yml"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn fifos_are_skipped_and_unreadable_folders_reported() {
        let d = scratch("fifo");
        let fifo = d.join("x.yml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::create_dir(d.join("locked")).unwrap();
        std::fs::write(d.join("locked/r.yml"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let readable_anyway = std::fs::read_dir(d.join("locked")).is_ok(); // root
        let w = walk(std::slice::from_ref(&d), &yml);
        assert!(w.files.iter().all(|f| f != &fifo));
        assert_eq!(w.skipped.len(), 1, "{:?}", w.skipped);
        assert!(w.skipped[0].1.contains("not a regular file"));
        if readable_anyway {
            assert!(w.unreadable.is_empty());
        } else {
            assert_eq!(w.unreadable[0].0, d.join("locked"), "{:?}", w.unreadable);
        }
        std::fs::set_permissions(d.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(walk(&[d.join("nope")], &yml).unreadable.len() == 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
