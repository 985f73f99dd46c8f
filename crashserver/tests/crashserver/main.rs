//! Integration tests: the real binary on a free port (spawn_server), plus in-process
//! router tests with a recording crasher.

mod support;

mod binary;
mod hostile;
mod in_process;
