//! Prometheus metrics: requests by route and status, in flight, durations, uptime, crash state.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub in_flight: IntGauge,
    pub uptime: Gauge,
    pub crash_armed: IntGauge,
    pub ready: IntGauge,
    /// 1 while a fault of that kind switched on by `GET /chaos` is in force.
    pub chaos_active: IntGaugeVec,
    pub chaos_leaked: IntGauge,
}

impl Metrics {
    pub fn new(instance_id: &str, version: &str) -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "crashserver_http_requests_total",
                "HTTP requests answered, by route, method and status code.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "crashserver_http_request_duration_seconds",
                "Time to answer an HTTP request, by route.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new(
            "crashserver_http_requests_in_flight",
            "HTTP requests being answered now.",
        )
        .expect("valid metric");
        let uptime = Gauge::new(
            "crashserver_uptime_seconds",
            "Seconds since this process started.",
        )
        .expect("valid metric");
        let crash_armed = IntGauge::new(
            "crashserver_crash_armed",
            "1 when a crash is scheduled (GET /status was called), else 0.",
        )
        .expect("valid metric");
        let ready = IntGauge::new("crashserver_ready", "1 when /ready answers 200, else 0.")
            .expect("valid metric");
        let info = IntGaugeVec::new(
            Opts::new("crashserver_info", "Identity of this process; always 1."),
            &["instance", "version"],
        )
        .expect("valid metric");
        info.with_label_values(&[instance_id, version]).set(1);
        let chaos_active = IntGaugeVec::new(
            Opts::new(
                "crashserver_chaos_active",
                "1 while a fault switched on by GET /chaos is in force, by fault.",
            ),
            &["fault"],
        )
        .expect("valid metric");
        for k in crate::chaos::Kind::ALL {
            chaos_active.with_label_values(&[k.name()]).set(0);
        }
        let chaos_leaked = IntGauge::new(
            "crashserver_chaos_leaked_bytes",
            "Memory held by a leak GET /chaos switched on.",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(uptime.clone()),
            Box::new(crash_armed.clone()),
            Box::new(ready.clone()),
            Box::new(chaos_active.clone()),
            Box::new(chaos_leaked.clone()),
            Box::new(info),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            duration,
            in_flight,
            uptime,
            crash_armed,
            ready,
            chaos_active,
            chaos_leaked,
        }
    }

    /// The exposition in Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}
