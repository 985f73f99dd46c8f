//! Tests of the image and of `scripts/`: the main job end to end on a real swarm (needs
//! Docker), upgrades, the image itself, the lecture cluster script's dry run, and
//! shellcheck. Tests that need a tool fail loudly when it is missing in CI (`CI` set) and
//! say they were skipped elsewhere.

mod container_faults;
mod demo;
mod experiment;
mod image;
mod journal;
mod lab;
mod static_checks;
mod support;
mod upgrades;
