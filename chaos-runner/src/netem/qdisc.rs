//! The netem root qdisc of each interface but loopback, over rtnetlink (netlink-sys's
//! socket, netlink-packet-core's attributes). A spec that asks only for a rate limit is set
//! as a token bucket (tbf) where the kernel has no netem: every kernel has tbf, not every
//! kernel netem. The few fixed headers (nlmsghdr, tcmsg,
//! ifinfomsg) are written and read here: netlink-packet-route's message types would bring
//! every kind of route message into the image (its size goal is 5.5 MB), and do not parse
//! netem's options (a fixed struct followed by attributes) anyway.

use std::time::Duration;

use netlink_packet_core::{
    DefaultNla, Emitable, NetlinkBuffer, NlasIterator, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::{NetemAction, NetemSpec};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWQDISC: u16 = 36;
const RTM_DELQDISC: u16 = 37;
const RTM_GETQDISC: u16 = 38;
const IFLA_IFNAME: u16 = 3;
const TC_H_ROOT: u32 = u32::MAX;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
/// `struct tc_tbf_qopt`: rate and peak rate (`struct tc_ratespec`, 12 bytes each), limit,
/// buffer, mtu.
const TBF_QOPT_LEN: usize = 36;
/// `TC_LINKLAYER_ETHERNET`: the kernel computes a packet's time itself (no rate table).
const LINKLAYER_ETHERNET: u8 = 1;
/// The smallest burst a token bucket is given: two full Ethernet frames.
const MIN_BURST: u64 = 2 * 1514;
/// `struct tc_netem_qopt`: latency, limit, loss, gap, duplicate, jitter (u32 each).
const QOPT_LEN: usize = 24;
/// Packets netem holds (iproute2's default).
const LIMIT: u32 = 1000;
/// The most bytes an answer may take (a dump of a few interfaces is far smaller).
const MAX_ANSWER: usize = 1 << 20;

type Error = std::io::Error;

/// What a kernel without the netem qdisc makes of a request for one.
pub const NO_NETEM: &str = "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM; \
    `modprobe sch_netem` where it is a module): delay, jitter and loss cannot be emulated here (a rate alone is set as tbf)";

fn err(s: impl Into<String>) -> Error {
    Error::other(s.into())
}

/// What a root qdisc this applet sets does, as the kernel reports it back.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    Netem(NetemSpec),
    /// A token bucket, bytes per second.
    Tbf(u64),
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Root::Netem(n) => write!(f, "netem {n}"),
            Root::Tbf(rate) => write!(f, "tbf rate={}bit", rate * 8),
        }
    }
}

/// Does what the applet was asked, on every interface but loopback; what it did, a line
/// per interface.
pub fn apply(action: &NetemAction) -> Result<Vec<String>, Error> {
    let nl = Netlink::open()?;
    let mut said = Vec::new();
    for (index, name) in nl.interfaces()? {
        match action {
            NetemAction::Set { spec } => {
                nl.set(index, spec)?;
                let back = nl
                    .root(index)?
                    .ok_or_else(|| err(format!("{name}: no netem after setting it")))?;
                said.push(format!("{name}: {back}"));
            }
            NetemAction::Clear => {
                if let Some(was) = nl.root(index)? {
                    nl.clear(index)?;
                    said.push(format!("{name}: {was} removed"));
                } else {
                    said.push(format!("{name}: no netem"));
                }
            }
            NetemAction::Show => said.push(match nl.root(index)? {
                Some(r) => format!("{name}: {r}"),
                None => format!("{name}: no netem"),
            }),
        }
    }
    Ok(said)
}

/// A route netlink socket.
struct Netlink {
    socket: Socket,
    seq: std::cell::Cell<u32>,
}

impl Netlink {
    fn open() -> Result<Self, Error> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Self {
            socket,
            seq: std::cell::Cell::new(1),
        })
    }

    /// Sends a request (`kind`, with `payload` after the netlink header); the payloads of the
    /// messages answered (type, bytes), until the kernel's acknowledgement or the end of a
    /// dump. A kernel error is returned as one. The header is written here rather than by
    /// the route crate's message type, whose emitter brings every kind of message with it.
    fn request(&self, kind: u16, payload: &[u8], flags: u16) -> Result<Vec<(u16, Vec<u8>)>, Error> {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut buf = Vec::with_capacity(len as usize);
        buf.extend_from_slice(&len.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(payload);
        self.socket.send(&buf, 0)?;
        let mut out = Vec::new();
        let mut total = 0;
        loop {
            let mut rx = Vec::with_capacity(64 * 1024);
            let n = self.socket.recv(&mut rx, 0)?;
            total += n;
            if total > MAX_ANSWER {
                return Err(err("the kernel's answer is larger than expected"));
            }
            let mut off = 0;
            while off < rx.len() {
                let b = NetlinkBuffer::new_checked(&rx[off..])
                    .map_err(|e| err(format!("netlink: {e}")))?;
                let len = b.length() as usize;
                let (kind, payload) = (b.message_type(), b.payload().to_vec());
                off += len.max(16).next_multiple_of(4);
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(
                            payload
                                .get(..4)
                                .and_then(|c| c.try_into().ok())
                                .unwrap_or([0; 4]),
                        );
                        return if code == 0 {
                            Ok(out)
                        } else {
                            Err(Error::from_raw_os_error(-code))
                        };
                    }
                    _ => out.push((kind, payload)),
                }
            }
        }
    }

    /// Every interface but loopback: (index, name).
    fn interfaces(&self) -> Result<Vec<(u32, String)>, Error> {
        // struct ifinfomsg, all zero: every interface of every family.
        let answers = self.request(RTM_GETLINK, &[0; 16], NLM_F_REQUEST | NLM_F_DUMP)?;
        let mut out = Vec::new();
        for (_, payload) in answers {
            // struct ifinfomsg: family, pad, type (u16), index (i32), flags, change.
            if payload.len() < 16 {
                continue;
            }
            let index = u32::from_ne_bytes(payload[4..8].try_into().unwrap_or([0; 4]));
            let mut name = None;
            for nla in NlasIterator::new(&payload[16..]) {
                let nla = nla.map_err(|e| err(format!("a link attribute: {e}")))?;
                if nla.kind() == IFLA_IFNAME {
                    let v = nla.value();
                    let v = v.strip_suffix(b"\0").unwrap_or(v);
                    name = Some(String::from_utf8_lossy(v).into_owned());
                }
            }
            if let Some(name) = name.filter(|n| n != "lo") {
                out.push((index, name));
            }
        }
        Ok(out)
    }

    fn set(&self, index: u32, spec: &NetemSpec) -> Result<(), Error> {
        match self.set_root(index, b"netem\0", options(spec)) {
            Ok(()) => Ok(()),
            // The kernel's answer for a qdisc kind it does not have.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {
                match spec.rate {
                    Some(rate) if *spec == rate_only(rate) => {
                        self.set_root(index, b"tbf\0", tbf_options(rate))
                    }
                    _ => Err(err(NO_NETEM)),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn set_root(&self, index: u32, kind: &[u8], options: Vec<u8>) -> Result<(), Error> {
        let attrs = [
            DefaultNla::new(TCA_KIND, kind.to_vec()),
            DefaultNla::new(TCA_OPTIONS, options),
        ];
        self.request(
            RTM_NEWQDISC,
            &tcmsg(index, &attrs),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        )?;
        Ok(())
    }

    fn clear(&self, index: u32) -> Result<(), Error> {
        self.request(RTM_DELQDISC, &tcmsg(index, &[]), NLM_F_REQUEST | NLM_F_ACK)?;
        Ok(())
    }

    /// The root qdisc of interface `index`, when it is one this applet sets (netem or tbf),
    /// as the kernel reports it.
    fn root(&self, index: u32) -> Result<Option<Root>, Error> {
        let answers = self.request(RTM_GETQDISC, &tcmsg(0, &[]), NLM_F_REQUEST | NLM_F_DUMP)?;
        for (kind, payload) in answers {
            // struct tcmsg: family, 3 pad bytes, ifindex, handle, parent, info.
            if kind != RTM_NEWQDISC || payload.len() < 20 {
                continue;
            }
            let word =
                |at: usize| u32::from_ne_bytes(payload[at..at + 4].try_into().unwrap_or([0; 4]));
            if word(4) != index || word(12) != TC_H_ROOT {
                continue;
            }
            let (mut name, mut opts) = (Vec::new(), Vec::new());
            for nla in NlasIterator::new(&payload[20..]) {
                let nla = nla.map_err(|e| err(format!("a qdisc attribute: {e}")))?;
                match nla.kind() {
                    TCA_KIND => name = nla.value().to_vec(),
                    TCA_OPTIONS => opts = nla.value().to_vec(),
                    _ => {}
                }
            }
            return match name.as_slice() {
                b"netem\0" => Ok(Some(Root::Netem(decode(&opts)?))),
                b"tbf\0" => Ok(Some(Root::Tbf(decode_tbf(&opts)?))),
                _ => Ok(None),
            };
        }
        Ok(None)
    }
}

/// A spec asking for nothing but `rate`.
fn rate_only(rate: u64) -> NetemSpec {
    NetemSpec {
        rate: Some(rate),
        ..NetemSpec::default()
    }
}

/// A tc message's bytes: struct tcmsg (family, 3 pad bytes, ifindex, handle, parent: the
/// root, info) and its attributes.
fn tcmsg(index: u32, attrs: &[DefaultNla]) -> Vec<u8> {
    let mut buf = vec![0u8; 4];
    buf.extend_from_slice(&index.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&TC_H_ROOT.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    let mut tail = vec![0; attrs.buffer_len()];
    attrs.emit(&mut tail);
    buf.extend(tail);
    buf
}

/// netem's TCA_OPTIONS: `struct tc_netem_qopt`, then attributes for what it cannot hold
/// (times in ns, rates in bytes/s).
fn options(s: &NetemSpec) -> Vec<u8> {
    let ns = |d: Duration| d.as_nanos().min(i64::MAX as u128) as i64;
    // The struct's own times are in the scheduler's ticks of 64 ns; the 64-bit attributes
    // below are what the kernel uses.
    let ticks = |d: Duration| (ns(d) >> 6).min(u32::MAX as i64) as u32;
    let loss = (s.loss * u32::MAX as f64).round() as u32;
    let mut out = Vec::with_capacity(QOPT_LEN + 64);
    for v in [ticks(s.delay), LIMIT, loss, 0, 0, ticks(s.jitter)] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    let mut nlas = vec![
        DefaultNla::new(TCA_NETEM_LATENCY64, ns(s.delay).to_ne_bytes().to_vec()),
        DefaultNla::new(TCA_NETEM_JITTER64, ns(s.jitter).to_ne_bytes().to_vec()),
    ];
    if let Some(rate) = s.rate {
        // struct tc_netem_rate: rate (u32), packet_overhead, cell_size, cell_overhead.
        let mut r = (rate.min(u32::MAX as u64) as u32).to_ne_bytes().to_vec();
        r.extend_from_slice(&[0; 12]);
        nlas.push(DefaultNla::new(TCA_NETEM_RATE, r));
        if rate > u32::MAX as u64 {
            nlas.push(DefaultNla::new(
                TCA_NETEM_RATE64,
                rate.to_ne_bytes().to_vec(),
            ));
        }
    }
    let mut tail = vec![0; nlas.as_slice().buffer_len()];
    nlas.as_slice().emit(&mut tail);
    out.extend(tail);
    out
}

/// tbf's TCA_OPTIONS for `rate` bytes/s: a burst of 20 ms of the rate (two frames at
/// least), a queue of 100 ms of it beyond the burst; the rate above 4 GB/s in RATE64.
fn tbf_options(rate: u64) -> Vec<u8> {
    let burst = (rate / 50).max(MIN_BURST).min(u64::from(u32::MAX));
    let limit = (rate / 10 + burst).min(u64::from(u32::MAX)) as u32;
    // struct tc_ratespec: cell_log, linklayer, overhead (u16), cell_align (i16), mpu (u16),
    // rate (u32); the peak rate is left unset.
    let mut qopt = vec![0, LINKLAYER_ETHERNET, 0, 0, 0, 0, 0, 0];
    qopt.extend_from_slice(&(rate.min(u64::from(u32::MAX)) as u32).to_ne_bytes());
    qopt.extend_from_slice(&[0; 12]);
    for v in [limit, 0, 0] {
        qopt.extend_from_slice(&v.to_ne_bytes());
    }
    let mut nlas = vec![
        DefaultNla::new(TCA_TBF_PARMS, qopt),
        DefaultNla::new(TCA_TBF_BURST, (burst as u32).to_ne_bytes().to_vec()),
    ];
    if rate > u64::from(u32::MAX) {
        nlas.push(DefaultNla::new(TCA_TBF_RATE64, rate.to_ne_bytes().to_vec()));
    }
    let mut out = vec![0; nlas.as_slice().buffer_len()];
    nlas.as_slice().emit(&mut out);
    out
}

/// The rate (bytes/s) of tbf's options, as the kernel reports them.
fn decode_tbf(opts: &[u8]) -> Result<u64, Error> {
    let mut rate = None;
    for nla in NlasIterator::new(opts) {
        let nla = nla.map_err(|e| err(format!("a tbf attribute: {e}")))?;
        let v = nla.value();
        match nla.kind() {
            TCA_TBF_PARMS if v.len() >= TBF_QOPT_LEN => {
                let r = u32::from_ne_bytes(v[8..12].try_into().unwrap_or([0; 4]));
                rate = rate.or(Some(u64::from(r)));
            }
            TCA_TBF_RATE64 => {
                if let Some(r) = v.get(..8).and_then(|b| b.try_into().ok()) {
                    rate = Some(u64::from_ne_bytes(r));
                }
            }
            _ => {}
        }
    }
    rate.ok_or_else(|| err("tbf options without a rate"))
}

/// What [`options`] wrote, as the kernel reports it back.
fn decode(opts: &[u8]) -> Result<NetemSpec, Error> {
    if opts.len() < QOPT_LEN {
        return Err(err("netem options shorter than tc_netem_qopt"));
    }
    let word = |at: usize| u32::from_ne_bytes(opts[at..at + 4].try_into().unwrap_or([0; 4]));
    let mut spec = NetemSpec {
        delay: Duration::from_nanos(u64::from(word(0)) << 6),
        jitter: Duration::from_nanos(u64::from(word(20)) << 6),
        loss: f64::from(word(8)) / u32::MAX as f64,
        rate: None,
    };
    let i64_of = |v: &[u8]| {
        v.get(..8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_ne_bytes)
    };
    for nla in NlasIterator::new(&opts[QOPT_LEN..]) {
        let nla = nla.map_err(|e| err(format!("a netem attribute: {e}")))?;
        let v = nla.value();
        match nla.kind() {
            TCA_NETEM_LATENCY64 => {
                if let Some(ns) = i64_of(v) {
                    spec.delay = Duration::from_nanos(ns.max(0) as u64);
                }
            }
            TCA_NETEM_JITTER64 => {
                if let Some(ns) = i64_of(v) {
                    spec.jitter = Duration::from_nanos(ns.max(0) as u64);
                }
            }
            TCA_NETEM_RATE => {
                let r = v
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_ne_bytes);
                spec.rate = r.filter(|r| *r > 0).map(u64::from).or(spec.rate);
            }
            TCA_NETEM_RATE64 => {
                if let Some(r) = i64_of(v) {
                    spec.rate = Some(r as u64);
                }
            }
            _ => {}
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_decode_back_to_the_spec() {
        for text in [
            "delay=200ms;jitter=20ms;loss=5%;rate=1mbit",
            "loss=100%",
            "rate=40gbit",
        ] {
            let spec: NetemSpec = text.parse().unwrap();
            let back = decode(&options(&spec)).unwrap();
            assert_eq!(back.delay, spec.delay, "{text}");
            assert_eq!(back.jitter, spec.jitter, "{text}");
            assert!((back.loss - spec.loss).abs() < 1e-9, "{text}");
            assert_eq!(back.rate, spec.rate, "{text}");
        }
        assert!(decode(&[0; 10]).is_err());
        for rate in [1, 125_000, 5_000_000_000] {
            assert_eq!(decode_tbf(&tbf_options(rate)).unwrap(), rate);
        }
        assert!(decode_tbf(&[]).is_err());
    }
}
