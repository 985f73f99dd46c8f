//! Appending to the journal. Entries are buffered and go to disk at each second's commit;
//! changes to the swarm go to disk before they are made. A write that fails is remembered
//! (and said once): the run stops its load at the next commit, whose error it returns.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{Change, Entry, BUCKETS, DIR, ENTRIES};
use crate::record::{timeline_csv, Bucket};

/// A handle on a run's journal (cheap to clone).
#[derive(Debug, Clone)]
pub struct Journal(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    entries: Mutex<BufWriter<File>>,
    buckets: Mutex<BufWriter<File>>,
    /// The first write that failed.
    failed: Mutex<Option<String>>,
    /// Rows written to buckets.csv.
    rows: std::sync::atomic::AtomicU64,
    /// Node and container changes written down and not (yet) written as undone, in order.
    open: Mutex<Vec<Change>>,
}

impl Journal {
    /// Creates `out/journal/` and its files (replacing those of an earlier run, which the
    /// output directory's checks allowed).
    pub fn create(out: &Path) -> std::io::Result<Self> {
        let dir = out.join(DIR);
        std::fs::create_dir_all(&dir)?;
        let entries = BufWriter::new(File::create(dir.join(ENTRIES))?);
        let mut buckets = BufWriter::new(File::create(dir.join(BUCKETS))?);
        writeln!(buckets, "bucket,{}", timeline_csv::header())?;
        buckets.flush()?;
        Ok(Self::of(entries, buckets))
    }

    fn of(entries: BufWriter<File>, buckets: BufWriter<File>) -> Self {
        Self(Arc::new(Inner {
            entries: Mutex::new(entries),
            buckets: Mutex::new(buckets),
            failed: Mutex::new(None),
            rows: std::sync::atomic::AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        }))
    }

    /// Opens the journal of an earlier run to add to it (`restore`).
    pub fn append(out: &Path) -> std::io::Result<Self> {
        let dir = out.join(DIR);
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join(name))
                .map(BufWriter::new)
        };
        Ok(Self::of(open(ENTRIES)?, open(BUCKETS)?))
    }

    /// Appends an entry; it reaches the disk at the next commit.
    pub fn note(&self, e: &Entry) {
        let j = &self.0;
        let r = {
            let mut w = j.entries.lock().expect("journal lock");
            serde_json::to_writer(&mut *w, e)
                .map_err(std::io::Error::from)
                .and_then(|()| w.write_all(b"\n"))
        };
        if let Err(e) = r {
            j.fail(format!("writing the journal: {e}"));
        }
    }

    /// Puts the buckets so far on disk, then appends the entry and puts the entries on
    /// disk: an entry on disk never names buckets that are not.
    pub fn commit(&self, e: &Entry) -> std::io::Result<()> {
        let j = &self.0;
        j.sync(&j.buckets)?;
        self.note(e);
        j.sync(&j.entries)?;
        match e {
            Entry::Change(
                c @ (Change::Node { .. } | Change::Container { .. } | Change::LoadService { .. }),
            ) => j.open.lock().expect("journal lock").push(c.clone()),
            Entry::Undone(c) => {
                let mut open = j.open.lock().expect("journal lock");
                if let Some(i) = open.iter().position(|o| o == c) {
                    open.remove(i);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The node, container and load-service changes this handle wrote down and has not
    /// written as undone (a firing cut short, an undo that failed, load tasks not yet
    /// removed), in the order they were made.
    pub fn open_changes(&self) -> Vec<Change> {
        self.0.open.lock().expect("journal lock").clone()
    }

    /// [`Journal::commit`] on a blocking thread: the disk's latency never stalls the
    /// runtime that sends the load.
    pub async fn commit_async(&self, e: Entry) -> std::io::Result<()> {
        let j = self.clone();
        tokio::task::spawn_blocking(move || j.commit(&e))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Writes down a change before it is made; an error means it must not be made.
    pub async fn change(&self, c: &Change) -> Result<(), String> {
        self.commit_async(Entry::Change(c.clone()))
            .await
            .map_err(|e| format!("not done: the journal cannot be written ({e})"))
    }

    /// Appends a bucket's row (its latest state); on disk at the next commit.
    pub fn bucket(&self, index: usize, b: &Bucket, bucket_us: u64) {
        let j = &self.0;
        let r = {
            let mut w = j.buckets.lock().expect("journal lock");
            write!(w, "{index},")
                .and_then(|()| timeline_csv::write_row(&mut *w, index, b, bucket_us))
        };
        match r {
            Ok(()) => {
                j.rows.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => j.fail(format!("writing the journal's buckets: {e}")),
        }
    }

    /// Rows written to buckets.csv so far (a second's commit names how many it covers).
    pub fn bucket_rows(&self) -> u64 {
        self.0.rows.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Inner {
    /// Flushes one file and asks the kernel to put it on disk; the first error of any write
    /// since the start, if there was one.
    fn sync(&self, f: &Mutex<BufWriter<File>>) -> std::io::Result<()> {
        {
            let mut w = f.lock().expect("journal lock");
            if let Err(e) = w.flush().and_then(|()| w.get_ref().sync_data()) {
                self.fail(format!("writing the journal: {e}"));
            }
        }
        match self.failed.lock().expect("journal lock").as_ref() {
            Some(e) => Err(std::io::Error::other(e.clone())),
            None => Ok(()),
        }
    }

    fn fail(&self, e: String) {
        let mut f = self.failed.lock().expect("journal lock");
        if f.is_none() {
            eprintln!("chaos-runner: {e}: stopping the load");
            *f = Some(e);
        }
    }
}
