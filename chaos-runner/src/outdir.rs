//! Where a run writes its reports. An earlier run is never overwritten silently: `--out`
//! naming a file, or a directory that already holds files, is refused unless `--force`;
//! the default directory (`results/run-<UTC time>`) gets a suffix when one of that name
//! exists, so runs started in the same millisecond still get one each.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::exit::UsageError;

/// Creates (or, with `force`, reuses) the output directory, before anything is sent.
pub fn prepare(out: Option<&Path>, force: bool) -> anyhow::Result<PathBuf> {
    match out {
        Some(dir) => explicit(dir, force),
        None => fresh(Path::new("results"), SystemTime::now()),
    }
}

fn explicit(dir: &Path, force: bool) -> anyhow::Result<PathBuf> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(UsageError(format!(
            "--out {} is a file, not a directory",
            dir.display()
        ))
        .into()),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)
                .map_err(|e| UsageError(format!("--out {}: {e}", dir.display())))?;
            let holds_files = entries.next().is_some();
            if holds_files && !force && crate::journal::unfinished(dir) {
                return Err(UsageError(format!(
                    "--out {} holds the journal of a run that did not finish: \
                     `chaos-runner report {0}` rebuilds its report and `chaos-runner restore {0}` \
                     undoes what it changed; choose another directory, or add --force to write over it",
                    dir.display()
                ))
                .into());
            }
            if holds_files && !force {
                return Err(UsageError(format!(
                    "--out {} already holds files (an earlier run?): choose another directory, \
                     or add --force to write over them",
                    dir.display()
                ))
                .into());
            }
            Ok(dir.to_path_buf())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .map_err(|e| UsageError(format!("cannot create --out {}: {e}", dir.display())))?;
            Ok(dir.to_path_buf())
        }
        Err(e) => Err(UsageError(format!("--out {}: {e}", dir.display())).into()),
    }
}

/// `parent/run-<time>`, or `-2`, `-3`, ... after it when taken: created atomically, so two
/// runs never share one.
fn fresh(parent: &Path, now: SystemTime) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(parent)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
    let stamp = humantime::format_rfc3339_millis(now)
        .to_string()
        .replace(':', "");
    for n in 1..10_000u32 {
        let name = match n {
            1 => format!("run-{stamp}"),
            n => format!("run-{stamp}-{n}"),
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => anyhow::bail!("cannot create {}: {e}", dir.display()),
        }
    }
    anyhow::bail!("no free run directory name under {}", parent.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chaos-outdir-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn runs_in_the_same_millisecond_get_a_directory_each() {
        let parent = scratch("fresh");
        let now = SystemTime::now();
        let a = fresh(&parent, now).unwrap();
        let b = fresh(&parent, now).unwrap();
        assert_ne!(a, b);
        assert!(b.to_string_lossy().ends_with("-2"));
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn an_earlier_run_is_kept_unless_forced() {
        let dir = scratch("explicit");
        assert_eq!(explicit(&dir, false).unwrap(), dir, "created when missing");
        assert!(explicit(&dir, false).is_ok(), "an empty directory is fine");
        std::fs::write(dir.join("summary.json"), "{}").unwrap();
        let e = explicit(&dir, false).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(e.to_string().contains("--force"), "{e}");
        assert!(explicit(&dir, true).is_ok());
        let file = dir.join("summary.json");
        assert!(explicit(&file, true)
            .unwrap_err()
            .to_string()
            .contains("is a file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
