//! The `file` and `console` sinks: one JSON event per line, appended to a file or written
//! to standard output or error. A batch counts as delivered once written and flushed (no
//! fsync, as Vector's `file` sink). The file is opened on first use and reopened after an
//! error.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::super::config::ConsoleTarget;
use super::super::event::Event;

enum Target {
    File { path: PathBuf, file: Option<File> },
    Console(ConsoleTarget),
}

pub struct FileSink {
    target: Target,
    buf: Vec<u8>,
}

impl FileSink {
    pub fn to_file(path: PathBuf) -> FileSink {
        FileSink {
            target: Target::File { path, file: None },
            buf: Vec::new(),
        }
    }

    pub fn console(target: ConsoleTarget) -> FileSink {
        FileSink {
            target: Target::Console(target),
            buf: Vec::new(),
        }
    }

    pub fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        self.buf.clear();
        for e in events {
            self.buf.extend_from_slice(&e.data);
            self.buf.push(b'\n');
        }
        match &mut self.target {
            Target::Console(ConsoleTarget::Stdout) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&self.buf)
                    .and_then(|_| out.flush())
                    .map_err(|e| format!("standard output: {e}"))
            }
            Target::Console(ConsoleTarget::Stderr) => std::io::stderr()
                .lock()
                .write_all(&self.buf)
                .map_err(|e| format!("standard error: {e}")),
            Target::File { path, file } => {
                if file.is_none() {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| format!("{}: {e}", dir.display()))?;
                    }
                    *file = Some(
                        OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&*path)
                            .map_err(|e| format!("{}: {e}", path.display()))?,
                    );
                }
                let f = file.as_mut().expect("opened above");
                let r = f.write_all(&self.buf).and_then(|_| f.flush());
                if let Err(e) = r {
                    *file = None;
                    return Err(format!("{}: {e}", path.display()));
                }
                Ok(())
            }
        }
    }
}
