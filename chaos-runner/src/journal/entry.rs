//! What the journal holds: one entry a line, tagged by its kind.

use serde::{Deserialize, Serialize};

use crate::fault::exec::FaultEvent;
use crate::fault::Kind;
use crate::summary::RunSetup;
use crate::swarm::events::SwarmEvent;
use crate::swarm::nodes::{ControlPlaneEvent, NodeEvent, TaskEvent};
use crate::swarm::update::UpdateStatusEvent;

/// Externally tagged (`{"second":{...}}`): an internally tagged enum's decoder costs the
/// image far more.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// Before anything is sent or changed.
    Begin(Box<Begin>),
    /// When the clock started.
    Started(Box<Started>),
    /// A change to the swarm, written (and on disk) before it is made.
    Change(Change),
    /// A change undone (by the run, or by `restore`).
    Undone(Change),
    /// The service put back to its spec as found (by the run, or by `restore`).
    ServiceRestored {
        detail: String,
    },
    /// A replica, when first seen and whenever its figures moved (the last one counts).
    Instance(InstanceEntry),
    /// A fault's firing; again when what it did was put back (the last one counts).
    Fault(FaultEvent),
    Container(SwarmEvent),
    Node(NodeEvent),
    Task(TaskEvent),
    ControlPlane(ControlPlaneEvent),
    Update(UpdateStatusEvent),
    /// Once a second: what was measured up to `at_us` is on disk.
    Second(Second),
    /// The run ended and wrote its reports.
    End(End),
}

/// The run's configuration, and what `restore` needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Begin {
    pub version: u32,
    /// The command line, secrets redacted.
    pub command: Vec<String>,
    pub swarm: Option<SwarmStart>,
}

/// The service a run acts on, as found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwarmStart {
    pub service: String,
    /// Engines reached besides the manager's own: (node, URL).
    pub engines: Vec<(String, String)>,
    /// Every engine's node name, the manager's first (as the summary names them).
    pub engine_names: Vec<String>,
    /// How nodes are stopped and cut (`exec:COMMAND` or `http://HOST:PORT`; never a token).
    pub node_driver: Option<String>,
    /// The service's spec before the run changed anything (Docker's JSON).
    pub spec: serde_json::Value,
}

/// The set-up of the measured part, as the summary names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Started {
    pub setup: RunSetup,
    pub access_path: String,
    pub bucket_threshold: f64,
    pub min_window_us: u64,
    /// `--slo`, as given.
    pub slo: Option<String>,
    /// `--replicas`, and how long scaling to them took.
    pub replicas: Option<u64>,
    pub converge_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answering: Option<crate::run::answering::Answering>,
}

/// A change a run makes to the swarm, and so what undoes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The service scaled (undone by its spec as found).
    Scale { replicas: u64 },
    /// The service's spec updated by a fault (undone by its spec as found).
    Service { what: String },
    /// A node stopped, cut off or drained (undone through the node driver or the managers).
    Node { kind: Kind, node: String },
    /// A task container paused or stopped by a signal (undone by `undo`: `unpause` or
    /// `SIGCONT`, through the engine of `node`).
    Container {
        undo: String,
        node: String,
        container: String,
    },
    /// A load service the run created on the swarm, one vantage point's (undone by removing
    /// it).
    LoadService { name: String },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Scale { replicas } => write!(f, "scaled to {replicas} replica(s)"),
            Change::Service { what } => write!(f, "service updated ({what})"),
            Change::Node { kind, node } => write!(f, "{kind} of {node}"),
            Change::Container {
                undo,
                node,
                container,
            } => write!(
                f,
                "container {} on {node} (until {undo})",
                container.chars().take(12).collect::<String>()
            ),
            Change::LoadService { name } => write!(f, "load service {name}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstanceEntry {
    pub index: u32,
    pub id: String,
    pub version: String,
    pub first_seen_us: u64,
    pub last_seen_us: u64,
}

/// One second's commit: the buckets and intervals written before it are what was measured
/// up to `at_us` (µs from the start).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Second {
    pub at_us: u64,
    /// Attempts that had left, and that had ended, by then.
    pub started: u64,
    pub ended: u64,
    /// Rows of buckets.csv written by then (later ones belong to a second never committed).
    pub buckets: u64,
    /// The send lateness of the attempts collected this second (HdrHistogram V2, deflated,
    /// base64), when there were any.
    pub lateness: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct End {
    /// Whether the run's reports were written.
    pub reports: bool,
}
