//! A size-rotated log file, behaving as the lumberjack logger upstream's log backend writes
//! through (`--audit-log-maxsize`, `--audit-log-maxbackup`, `--audit-log-maxage`), so that log
//! shippers configured for upstream's file names find ours.
//!
//! Rules, as lumberjack's: a write that would take the file past the maximum size first moves
//! the file aside to `<name>-<UTC time as 2006-01-02T15-04-05.000><ext>` and starts a new one
//! (mode 0600, or the old file's mode); a single write larger than the maximum is refused.
//! After each rotation, backups beyond the newest `max_backups` and backups older than
//! `max_age` are removed (0 keeps them). Size 0 means lumberjack's default of 100 MB.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MEGABYTE: u64 = 1024 * 1024;
/// lumberjack's size when none is given.
const DEFAULT_MAX_MEGABYTES: u64 = 100;
const BACKUP_TIME_FORMAT: &str = "%Y-%m-%dT%H-%M-%S%.3f";

/// When to rotate and what to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rotate before the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Backups to keep; 0 keeps all.
    pub max_backups: usize,
    /// Age past which backups are removed; zero keeps them.
    pub max_age: Duration,
}

impl Limits {
    /// From the flags: megabytes (0 = 100), a count, days.
    pub fn from_flags(max_size_mb: u32, max_backups: u32, max_age_days: u32) -> Self {
        let mb = if max_size_mb == 0 {
            DEFAULT_MAX_MEGABYTES
        } else {
            u64::from(max_size_mb)
        };
        Self {
            max_bytes: mb * MEGABYTE,
            max_backups: max_backups as usize,
            max_age: Duration::from_secs(u64::from(max_age_days) * 24 * 3600),
        }
    }
}

/// The log file and its rotation state. Not shared: one writer thread owns it.
pub struct Rotating {
    path: PathBuf,
    limits: Limits,
    file: Option<File>,
    size: u64,
    clock: Box<dyn Fn() -> DateTime<Utc> + Send>,
}

impl Rotating {
    /// Opens (or creates, with its directory) the log at `path`, appending to what is there
    /// unless it is already full.
    pub fn open(path: &Path, limits: Limits) -> io::Result<Self> {
        Self::with_clock(path, limits, Box::new(Utc::now))
    }

    /// As [`Rotating::open`], with the clock that names backups and ages them.
    pub fn with_clock(
        path: &Path,
        limits: Limits,
        clock: Box<dyn Fn() -> DateTime<Utc> + Send>,
    ) -> io::Result<Self> {
        let mut r = Self {
            path: path.to_path_buf(),
            limits,
            file: None,
            size: 0,
            clock,
        };
        r.open_existing_or_new(0)?;
        Ok(r)
    }

    /// Appends `line` whole, rotating first if it would not fit.
    pub fn write(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        if len > self.limits.max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "write length {len} exceeds maximum file size {}",
                    self.limits.max_bytes
                ),
            ));
        }
        if self.file.is_none() {
            self.open_existing_or_new(len)?;
        }
        if self.size + len > self.limits.max_bytes {
            self.rotate()?;
        }
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => return Err(io::Error::other("the audit log file is not open")),
        };
        let result = file.write_all(line);
        if result.is_err() {
            // Reopen on the next write: the file may have been removed or the disk filled.
            self.file = None;
        } else {
            self.size += len;
        }
        result
    }

    fn open_existing_or_new(&mut self, write_len: u64) -> io::Result<()> {
        self.mill();
        let size = match std::fs::metadata(&self.path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.open_new(),
            Err(e) => return Err(e),
        };
        if size + write_len >= self.limits.max_bytes {
            return self.rotate();
        }
        match OpenOptions::new().append(true).open(&self.path) {
            Ok(f) => {
                self.file = Some(f);
                self.size = size;
                Ok(())
            }
            // As lumberjack: a file that cannot be appended to is moved aside.
            Err(_) => self.open_new(),
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        self.open_new()?;
        self.mill();
        Ok(())
    }

    fn open_new(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut mode = 0o600;
        if let Ok(m) = std::fs::metadata(&self.path) {
            mode = m.permissions().mode() & 0o7777;
            let backup = self.backup_name((self.clock)());
            std::fs::rename(&self.path, &backup)?;
        }
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&self.path)?;
        self.file = Some(f);
        self.size = 0;
        Ok(())
    }

    /// `(prefix, ext)`: backups are `<prefix><time><ext>` beside the file.
    fn name_parts(&self) -> (String, String) {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Go's filepath.Ext: from the last dot of the name.
        match name.rfind('.') {
            Some(i) => (format!("{}-", &name[..i]), name[i..].to_string()),
            None => (format!("{name}-"), String::new()),
        }
    }

    fn backup_name(&self, t: DateTime<Utc>) -> PathBuf {
        let (prefix, ext) = self.name_parts();
        self.dir()
            .join(format!("{prefix}{}{ext}", t.format(BACKUP_TIME_FORMAT)))
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Backups beside the file, newest first.
    pub fn backups(&self) -> Vec<(DateTime<Utc>, PathBuf)> {
        let (prefix, ext) = self.name_parts();
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return Vec::new();
        };
        let mut found: Vec<(DateTime<Utc>, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stamp = name
                    .strip_prefix(&prefix)?
                    .strip_suffix(&format!("{ext}.gz"))
                    .or_else(|| name.strip_prefix(&prefix)?.strip_suffix(&ext))?;
                let t = NaiveDateTime::parse_from_str(stamp, BACKUP_TIME_FORMAT).ok()?;
                Some((t.and_utc(), e.path()))
            })
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found
    }

    /// Removes the backups the limits do not keep. Failures only delay the clean-up.
    fn mill(&self) {
        if self.limits.max_backups == 0 && self.limits.max_age.is_zero() {
            return;
        }
        let mut files = self.backups();
        let mut remove = Vec::new();
        if self.limits.max_backups > 0 && self.limits.max_backups < files.len() {
            // A backup and its compressed copy count once.
            let mut kept = std::collections::HashSet::new();
            let mut remaining = Vec::new();
            for f in files {
                let name = f.1.to_string_lossy().trim_end_matches(".gz").to_string();
                kept.insert(name);
                if kept.len() > self.limits.max_backups {
                    remove.push(f);
                } else {
                    remaining.push(f);
                }
            }
            files = remaining;
        }
        if !self.limits.max_age.is_zero() {
            let age =
                chrono::Duration::from_std(self.limits.max_age).unwrap_or(chrono::Duration::MAX);
            let cutoff = (self.clock)() - age;
            remove.extend(files.into_iter().filter(|f| f.0 < cutoff));
        }
        for (_, path) in remove {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "Removing an old audit log failed.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A clock tests move by hand.
    fn clock(start: i64) -> (Arc<AtomicI64>, Box<dyn Fn() -> DateTime<Utc> + Send>) {
        let ms = Arc::new(AtomicI64::new(start));
        let c = ms.clone();
        (
            ms,
            Box::new(move || Utc.timestamp_millis_opt(c.load(Ordering::SeqCst)).unwrap()),
        )
    }

    fn limits(max_bytes: u64, max_backups: usize) -> Limits {
        Limits {
            max_bytes,
            max_backups,
            max_age: Duration::ZERO,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_before_a_write_that_would_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/audit.log");
        // 2024-01-02T03:04:05.678Z
        let (now, c) = clock(1_704_164_645_678);
        let mut log = Rotating::with_clock(&path, limits(10, 0), c).unwrap();
        log.write(b"aaaa\n").unwrap();
        log.write(b"bbbb\n").unwrap();
        // 10 bytes written; one more would pass the limit.
        now.fetch_add(1000, Ordering::SeqCst);
        log.write(b"cc\n").unwrap();
        assert_eq!(
            names(path.parent().unwrap()),
            vec!["audit-2024-01-02T03-04-06.678.log", "audit.log"]
        );
        let old = std::fs::read(path.with_file_name("audit-2024-01-02T03-04-06.678.log")).unwrap();
        assert_eq!(old, b"aaaa\nbbbb\n");
        assert_eq!(std::fs::read(&path).unwrap(), b"cc\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = log.write(b"0123456789ab").unwrap_err();
        assert_eq!(
            err.to_string(),
            "write length 12 exceeds maximum file size 10"
        );
    }

    #[test]
    fn appends_to_an_existing_file_and_keeps_max_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit");
        std::fs::write(&path, b"old\n").unwrap();
        let (now, c) = clock(1_704_164_645_000);
        let mut log = Rotating::with_clock(&path, limits(8, 2), c).unwrap();
        log.write(b"new\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old\nnew\n");
        for i in 0..4 {
            now.fetch_add(1, Ordering::SeqCst);
            log.write(format!("{i}{i}{i}{i}{i}{i}{i}\n").as_bytes())
                .unwrap();
        }
        // A name without an extension gets none on its backups; the two newest are kept.
        assert_eq!(
            names(dir.path()),
            vec![
                "audit",
                "audit-2024-01-02T03-04-05.003",
                "audit-2024-01-02T03-04-05.004",
            ]
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"3333333\n");
        assert_eq!(log.backups().len(), 2);
    }

    #[test]
    fn starts_a_new_file_when_the_existing_one_is_full_and_removes_old_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json.log");
        std::fs::write(&path, b"0123456789").unwrap();
        std::fs::write(
            dir.path().join("audit.json-2023-12-01T00-00-00.000.log"),
            b"x",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("unrelated-2023-12-01T00-00-00.000.log"),
            b"x",
        )
        .unwrap();
        let (_now, c) = clock(1_704_164_645_000);
        let limits = Limits {
            max_age: Duration::from_secs(7 * 24 * 3600),
            ..limits(10, 0)
        };
        let mut log = Rotating::with_clock(&path, limits, c).unwrap();
        log.write(b"fresh\n").unwrap();
        assert_eq!(
            names(dir.path()),
            vec![
                "audit.json-2024-01-02T03-04-05.000.log",
                "audit.json.log",
                "unrelated-2023-12-01T00-00-00.000.log",
            ]
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"fresh\n");
    }

    #[test]
    fn flag_defaults() {
        assert_eq!(Limits::from_flags(0, 0, 0).max_bytes, 100 * MEGABYTE);
        let l = Limits::from_flags(1, 3, 2);
        assert_eq!(
            (l.max_bytes, l.max_backups, l.max_age.as_secs()),
            (MEGABYTE, 3, 2 * 86400)
        );
    }
}
