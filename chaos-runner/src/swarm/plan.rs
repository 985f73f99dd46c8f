//! What a service update changes and how swarm rolls it out: the model the update and
//! canary faults are parsed into and the swarm module carries out.

use std::fmt;
use std::time::Duration;

/// The order of a rolling update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOrder {
    /// Stop the old task, then start the new one (a rolling update, swarm's default).
    StopFirst,
    /// Start the new task, then stop the old one (blue-green like).
    StartFirst,
}

/// What swarm does when an updated task fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    Pause,
    Continue,
    Rollback,
}

impl std::str::FromStr for UpdateOrder {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        match v {
            "stop-first" => Ok(Self::StopFirst),
            "start-first" => Ok(Self::StartFirst),
            _ => Err(format!("order={v}: use stop-first or start-first")),
        }
    }
}

impl fmt::Display for UpdateOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StopFirst => "stop-first",
            Self::StartFirst => "start-first",
        })
    }
}

impl std::str::FromStr for FailureAction {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        match v {
            "pause" => Ok(Self::Pause),
            "continue" => Ok(Self::Continue),
            "rollback" => Ok(Self::Rollback),
            _ => Err(format!("failure={v}: use pause, continue or rollback")),
        }
    }
}

impl fmt::Display for FailureAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pause => "pause",
            Self::Continue => "continue",
            Self::Rollback => "rollback",
        })
    }
}

/// What a service update changes and how swarm rolls it out.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePlan {
    /// Environment variables to set (`VERSION=v2`).
    pub env: Vec<(String, String)>,
    pub image: Option<String>,
    pub order: UpdateOrder,
    pub parallelism: u64,
    pub delay: Duration,
    pub failure_action: FailureAction,
    pub monitor: Duration,
}

impl UpdatePlan {
    /// Short description for reports.
    pub fn describe(&self) -> String {
        let mut what: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(i) = &self.image {
            what.push(format!("image {i}"));
        }
        if what.is_empty() {
            what.push("forced".into());
        }
        format!(
            "{} ({}, parallelism {}, delay {:?}, on failure {})",
            what.join(" "),
            self.order,
            self.parallelism,
            self.delay,
            self.failure_action
        )
    }
}

impl Default for UpdatePlan {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            image: None,
            order: UpdateOrder::StopFirst,
            parallelism: 1,
            delay: Duration::ZERO,
            failure_action: FailureAction::Pause,
            monitor: Duration::from_secs(5),
        }
    }
}
