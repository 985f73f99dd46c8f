//! chaos-runner integration tests: the real binary against scripted test servers and
//! real crashserver processes.

mod support;
mod truth;

mod cli;
mod experiment;
mod faults;
mod hostile;
mod journal;
mod live;
mod measurement;
mod netem;
mod reports;
mod stalls;
mod stream;
