//! The transport's metric families, the same on every service: requests by route and status,
//! their durations, live connections, and the build.
//!
//! Owns: [`ServerMetrics`], counted by the transport for every answered request (`conn`) and
//! every accepted connection (`server`), and written by the service's [`Source`]. A route is
//! one of the paths the service named at start, or `other`: a label never holds a path a
//! caller made up, so a scan of random paths cannot grow the series. Statuses are counted in a
//! table indexed by the code (100–999), so counting is one atomic add with no lock and no
//! allocation, and every code is counted exactly. Does not own: which paths a service serves
//! (it says), nor serving `/metrics` (`metrics_endpoint`).
//!
//! [`Source`]: crate::metrics::Source

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

use crate::metrics::{Exposition, Gauge, Histogram, Kind};

/// The route label of every path the service did not name.
pub const OTHER_ROUTE: &str = "other";
const FIRST_CODE: u16 = 100;
const CODES: usize = 900;

/// Request and connection metrics of one server.
#[derive(Debug)]
pub struct ServerMetrics {
    /// The routes named at start, then [`OTHER_ROUTE`].
    routes: Box<[RouteMetrics]>,
    connections: Gauge,
}

#[derive(Debug)]
struct RouteMetrics {
    route: Box<str>,
    /// Answers by status code, `FIRST_CODE` at index 0.
    statuses: Box<[AtomicU64]>,
    duration: Histogram,
}

impl RouteMetrics {
    fn new(route: &str) -> Self {
        RouteMetrics {
            route: route.into(),
            statuses: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            duration: Histogram::default(),
        }
    }
}

impl ServerMetrics {
    /// Metrics for a server whose known routes are `routes` (exact paths).
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut all: Vec<RouteMetrics> = Vec::new();
        for route in routes {
            if route != OTHER_ROUTE && !all.iter().any(|r| &*r.route == route) {
                all.push(RouteMetrics::new(route));
            }
        }
        all.push(RouteMetrics::new(OTHER_ROUTE));
        ServerMetrics {
            routes: all.into_boxed_slice(),
            connections: Gauge::new(),
        }
    }

    fn route(&self, path: &str) -> &RouteMetrics {
        let last = self.routes.len() - 1;
        self.routes[..last]
            .iter()
            .find(|r| &*r.route == path)
            .unwrap_or(&self.routes[last])
    }

    /// Counts one answered request.
    pub fn observe(&self, path: &str, status: StatusCode, elapsed: Duration) {
        let route = self.route(path);
        let index = usize::from(status.as_u16().saturating_sub(FIRST_CODE));
        if let Some(count) = route.statuses.get(index) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        route.duration.observe(elapsed);
    }

    /// Answers counted for the route `path` falls under, with `status`.
    pub fn requests(&self, path: &str, status: StatusCode) -> u64 {
        let index = usize::from(status.as_u16().saturating_sub(FIRST_CODE));
        self.route(path)
            .statuses
            .get(index)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts a connection from now until the returned guard is dropped.
    pub(super) fn connection(&self) -> ConnectionCount<'_> {
        self.connections.inc();
        ConnectionCount(&self.connections)
    }

    /// Connections open now.
    pub fn connections(&self) -> i64 {
        self.connections.get()
    }

    /// Writes `tollgate_requests_total`, `tollgate_request_duration_seconds`,
    /// `tollgate_connections` and `tollgate_build_info`. Each named route has its `200` series
    /// from the first scrape, so every family has samples before any request.
    pub fn write(&self, out: &mut Exposition) {
        let requests = "tollgate_requests_total";
        out.family(
            requests,
            Kind::Counter,
            "Requests answered, by route and status.",
        );
        let mut code = String::with_capacity(3);
        for route in self.routes.iter() {
            let named = &*route.route != OTHER_ROUTE;
            for (index, count) in route.statuses.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                let status = FIRST_CODE as usize + index;
                if count == 0 && !(named && status == 200) {
                    continue;
                }
                code.clear();
                code.push_str(&status.to_string());
                out.sample(
                    requests,
                    &[("route", &route.route), ("status", &code)],
                    count,
                );
            }
        }
        let duration = "tollgate_request_duration_seconds";
        out.family(
            duration,
            Kind::Histogram,
            "Time from request head to answer, by route.",
        );
        for route in self.routes.iter() {
            out.histogram(duration, &[("route", &route.route)], &route.duration);
        }
        out.gauge(
            "tollgate_connections",
            "Connections open now.",
            self.connections(),
        );
        let build = "tollgate_build_info";
        out.family(build, Kind::Gauge, "The running build: always 1.");
        out.sample(build, &[("version", env!("CARGO_PKG_VERSION"))], 1);
    }
}

/// One live connection in [`ServerMetrics`]' gauge, until dropped.
pub(super) struct ConnectionCount<'a>(&'a Gauge);

impl Drop for ConnectionCount<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_count_as_other_and_never_become_a_label() {
        let metrics = ServerMetrics::new(["/a", "/b"]);
        metrics.observe("/a", StatusCode::OK, Duration::from_micros(10));
        metrics.observe("/made-up", StatusCode::NOT_FOUND, Duration::from_micros(10));
        metrics.observe(
            "/made-up-2",
            StatusCode::NOT_FOUND,
            Duration::from_micros(10),
        );
        assert_eq!(metrics.requests("/a", StatusCode::OK), 1);
        assert_eq!(metrics.requests("/zzz", StatusCode::NOT_FOUND), 2);
        let mut out = Exposition::new();
        metrics.write(&mut out);
        let text = out.finish();
        assert!(!text.contains("made-up"), "{text}");
        assert!(text.contains("tollgate_requests_total{route=\"other\",status=\"404\"} 2\n"));
        assert!(text.contains("tollgate_requests_total{route=\"/b\",status=\"200\"} 0\n"));
        assert!(text.contains("tollgate_request_duration_seconds_count{route=\"/a\"} 1\n"));
    }
}
