//! Faults: the `--fault` spec language, when faults fire, and what firing one does.

pub mod canary;
pub mod container;
pub mod drive;
pub mod exec;
pub mod node;
pub mod schedule;
pub mod spec;
pub mod undo;

pub use schedule::Schedule;
pub use spec::{ContainerAction, FaultKind, FaultSpec, HttpTo, When};

/// What one firing of a fault did.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// Whether it did what it was asked (a kill answered, exit 0, containers signalled).
    pub ok: bool,
    /// What happened, for people.
    pub outcome: String,
    /// What it hit: replica addresses and ids, container ids, the service, or the command.
    pub targets: Vec<String>,
}

impl Fired {
    pub fn new(ok: bool, outcome: String, targets: Vec<String>) -> Self {
        Self {
            ok,
            outcome,
            targets,
        }
    }
}

/// The kinds of fault, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Http,
    Cmd,
    Docker,
    Update,
    Canary,
    #[serde(rename = "node-stop")]
    NodeStop,
    Partition,
    Drain,
    #[serde(rename = "manager-stop")]
    ManagerStop,
    Pause,
    Stop,
    Signal,
    Netem,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Http,
        Kind::Cmd,
        Kind::Docker,
        Kind::Update,
        Kind::Canary,
        Kind::NodeStop,
        Kind::Partition,
        Kind::Drain,
        Kind::ManagerStop,
        Kind::Pause,
        Kind::Stop,
        Kind::Signal,
        Kind::Netem,
    ];

    /// The kind written in a spec (`http`, `docker`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Cmd => "cmd",
            Kind::Docker => "docker",
            Kind::Update => "update",
            Kind::Canary => "canary",
            Kind::NodeStop => "node-stop",
            Kind::Partition => "partition",
            Kind::Drain => "drain",
            Kind::ManagerStop => "manager-stop",
            Kind::Pause => "pause",
            Kind::Stop => "stop",
            Kind::Signal => "signal",
            Kind::Netem => "netem",
        }
    }

    /// Faults that act on task containers through their engines (the Docker API).
    pub fn is_container(self) -> bool {
        matches!(
            self,
            Kind::Docker | Kind::Pause | Kind::Stop | Kind::Signal | Kind::Netem
        )
    }

    /// Faults that act on whole nodes (through the node driver or the managers' API).
    pub fn is_node(self) -> bool {
        matches!(
            self,
            Kind::NodeStop | Kind::Partition | Kind::Drain | Kind::ManagerStop
        )
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FaultKind {
    pub fn kind(&self) -> Kind {
        match self {
            FaultKind::Http { .. } => Kind::Http,
            FaultKind::Cmd { .. } => Kind::Cmd,
            FaultKind::Docker { .. } => Kind::Docker,
            FaultKind::Update(_) => Kind::Update,
            FaultKind::Canary { .. } => Kind::Canary,
            FaultKind::Node(n) => n.kind,
            FaultKind::Container(c) => match c.action {
                ContainerAction::Pause => Kind::Pause,
                ContainerAction::Stop => Kind::Stop,
                ContainerAction::Signal(_) => Kind::Signal,
                ContainerAction::Netem(_) => Kind::Netem,
            },
        }
    }

    /// How long after firing what it did is undone (`for=`); None: at the end of the run.
    pub fn hold(&self) -> Option<std::time::Duration> {
        match self {
            FaultKind::Node(n) => n.hold,
            FaultKind::Container(c) => c.hold,
            _ => None,
        }
    }
}

#[cfg(test)]
mod schema_tests {
    use super::Kind;

    #[test]
    fn the_summary_schema_names_every_kind_of_fault() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/summary.schema.json")).unwrap();
        let kinds = schema
            .pointer("/properties/faults/items/properties/kind/enum")
            .and_then(|k| k.as_array())
            .expect("faults[].kind is an enum in the schema");
        let named: Vec<&str> = kinds.iter().filter_map(|k| k.as_str()).collect();
        let ours: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(named, ours);
    }
}
