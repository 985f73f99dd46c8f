//! The netem applet in a network namespace of its own (what a fault's helper container runs
//! inside a task's namespace), checked against iproute2's `tc` on the same kernel: where the
//! kernel has netem, the qdisc read back over netlink is the one asked and `clear` removes it;
//! where it has none (this project's machine), the applet says so and leaves nothing.

use crate::support::*;

/// Runs `script` in a new network namespace with a veth pair (v0, v1) up; its output.
fn in_namespace(script: &str) -> std::process::Output {
    let full = format!("ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up && {script}");
    std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &full])
        .env("RUNNER", RUNNER)
        .output()
        .expect("unshare (needs root)")
}

#[test]
#[ignore = "needs root (a network namespace of its own) and iproute2; CI runs it (cargo test -- --include-ignored)"]
fn netem_is_set_read_back_and_cleared_or_refused_where_the_kernel_has_none() {
    // iproute2's tc, on the same kernel, is the oracle of whether it has netem.
    let kernel_has_netem = in_namespace("tc qdisc add dev v0 root netem delay 1ms")
        .status
        .success();
    let o = in_namespace(
        r#""$RUNNER" netem set 'delay=200ms;jitter=20ms;loss=5%;rate=1mbit'; echo "set=$?"; "$RUNNER" netem show; tc qdisc show dev v0; "$RUNNER" netem clear; echo "clear=$?"; "$RUNNER" netem show; tc qdisc show dev v0"#,
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    println!("kernel has netem: {kernel_has_netem}\n{out}{err}");
    assert!(o.status.success(), "{out}{err}");
    if kernel_has_netem {
        assert!(out.contains("set=0"), "{out}{err}");
        assert!(
            out.contains("v0: netem delay=200ms;jitter=20ms;loss=5%;rate=1000000bit"),
            "read back over netlink: {out}"
        );
        assert!(out.contains("qdisc netem"), "tc sees it: {out}");
    } else {
        assert!(out.contains("set=1"), "{out}{err}");
        assert!(err.contains("this kernel has no netem qdisc"), "{err}");
    }
    assert!(out.contains("clear=0"), "{out}{err}");
    let after = out.rsplit("clear=0").next().unwrap();
    assert!(
        after.contains("v0: no netem") && after.contains("v1: no netem"),
        "{out}"
    );
    assert!(!after.contains("qdisc netem"), "tc still sees one: {out}");
}

#[test]
#[ignore = "needs root (a network namespace of its own) and iproute2; CI runs it (cargo test -- --include-ignored)"]
fn a_rate_alone_is_limited_on_every_kernel_and_cleared() {
    let o = in_namespace(
        r#""$RUNNER" netem set 'rate=64kbit'; echo "set=$?"; tc qdisc show dev v0; "$RUNNER" netem clear; echo "clear=$?"; tc qdisc show dev v0"#,
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    println!("{out}{err}");
    assert!(out.contains("set=0"), "{out}{err}");
    // netem's own rate where the kernel has it, a token bucket where it has not; tc, on the
    // same kernel, sees the one the applet read back.
    let (ours, tcs) = if out.contains("v0: netem") {
        ("v0: netem rate=64000bit", "qdisc netem")
    } else {
        ("v0: tbf rate=64000bit", "rate 64Kbit")
    };
    let (set, after) = out.split_once("clear=0").expect("clear succeeded");
    assert!(set.contains(ours) && set.contains(tcs), "{out}");
    assert!(
        after.contains("noqueue") && !after.contains(tcs),
        "left behind: {out}"
    );
}
