//! The Prometheus Pushgateway: a registry's snapshot pushed as one group, for the shared
//! sender of [`aureon_push`]. For batch jobs (the seed's stress test) and processes that
//! cannot be scraped; a long-running service is better scraped or sent by remote write (see
//! `docs/operations.md`).
//!
//! * The group is named by its **grouping key**: `/metrics/job/<job>/<label>/<value>…`. A
//!   value that is empty or holds anything but `[A-Za-z0-9._~-]` (a `/` above all) is sent in
//!   the gateway's base64 form (`<label>@base64/<url-safe base64>`), so any value arrives as
//!   it was given.
//! * [`GroupPush::Replace`] (`PUT`, the default) replaces the whole group with each push;
//!   [`GroupPush::Update`] (`POST`) replaces only the metric families the push contains.
//!   Either way each push holds every series of its snapshot, so a newer snapshot supersedes
//!   a queued older one: only the newest is kept (see [`Protocol::supersedes`]).
//! * The body is the Prometheus text format 0.0.4, named as the scrape names series (same
//!   [`ExportOptions`]). The gateway adds `push_time_seconds` to the group.
//! * [`Pushgateway::delete_on_shutdown`] sends `DELETE` for the group after the final flush,
//!   for a job whose result must not outlive it.
//!
//! Retries follow the remote-write rule ([`aureon_push::classify_remote_write`]): 5xx and 429
//! again with backoff; any other 4xx (the gateway answers 400 to metrics inconsistent with
//! another group's) dropped at once and counted as `rejected`.
//!
//! ```no_run
//! use aureon_prometheus::pushgateway::Pushgateway;
//! use aureon_push::{HttpTransport, NoSource, PushConfig, Pusher};
//! use aureon_telemetry::Registry;
//! use std::sync::Arc;
//!
//! let registry = Registry::new();
//! registry.counter("blocks_processed").increment(10_000);
//! let gateway = Pushgateway::new("http://127.0.0.1:9091", "aureon_stress")?
//!     .grouping_label("instance", "node-1")?;
//! let pusher = Pusher::spawn_with_transport(
//!     gateway, None::<NoSource>, HttpTransport::new(), PushConfig::default(), None)?;
//! let report = pusher.shutdown_with(Some(Arc::new(registry.snapshot())));
//! assert_eq!(report.dropped_total(), 0, "{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::options::ExportOptions;
use crate::remote_write::{SetupError, check_label_name};
use crate::{Format, Renderer};
use aureon_push::{EncodeError, Method, Outcome, Protocol, PushRequest, Response};
use aureon_telemetry::Snapshot;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;

/// How a push changes the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupPush {
    /// `PUT`: the push replaces every metric of the group (series that left the snapshot
    /// leave the group too).
    #[default]
    Replace,
    /// `POST`: the push replaces only the metric families it contains; others stay.
    Update,
}

/// The Pushgateway protocol for [`aureon_push::Pusher`].
#[derive(Debug)]
pub struct Pushgateway {
    base: String,
    job: String,
    labels: Vec<(String, String)>,
    group_url: String,
    push: GroupPush,
    delete_on_shutdown: bool,
    options: ExportOptions,
    renderer: Renderer,
}

impl Pushgateway {
    /// Pushes to the gateway at `base_url` (e.g. `http://pushgateway:9091`) as job `job`
    /// (not empty), with the default [`ExportOptions`].
    pub fn new(base_url: &str, job: &str) -> Result<Self, SetupError> {
        aureon_push::validate_url(base_url).map_err(SetupError)?;
        if job.is_empty() {
            return Err(SetupError(
                "the Pushgateway job name must not be empty".into(),
            ));
        }
        let mut gateway = Self {
            base: base_url.trim_end_matches('/').to_owned(),
            job: job.to_owned(),
            labels: Vec::new(),
            group_url: String::new(),
            push: GroupPush::Replace,
            delete_on_shutdown: false,
            options: ExportOptions::default(),
            renderer: Renderer::default(),
        };
        gateway.group_url = gateway.build_group_url();
        Ok(gateway)
    }

    /// Adds a label to the grouping key (`instance`, `shard`…). The name must be a valid
    /// label name other than `job`; a second value for the same name replaces the first.
    pub fn grouping_label(mut self, name: &str, value: &str) -> Result<Self, SetupError> {
        check_label_name(name)?;
        if name == "job" {
            return Err(SetupError(
                "the job is given to Pushgateway::new, not as a grouping label".into(),
            ));
        }
        self.labels.retain(|(k, _)| k != name);
        self.labels.push((name.to_owned(), value.to_owned()));
        self.group_url = self.build_group_url();
        Ok(self)
    }

    /// `PUT` (replace the group, the default) or `POST` (update it).
    pub fn group_push(mut self, push: GroupPush) -> Self {
        self.push = push;
        self
    }

    /// Deletes the group (`DELETE`) after the final flush of
    /// [`Pusher::shutdown`](aureon_push::Pusher::shutdown).
    pub fn delete_on_shutdown(mut self, on: bool) -> Self {
        self.delete_on_shutdown = on;
        self
    }

    /// Names and labels series as `options` does for the scrape.
    pub fn export_options(mut self, options: &ExportOptions) -> Self {
        self.options = options.clone();
        self
    }

    /// The group's URL: `<base>/metrics/job/<job>[/<label>/<value>]…`.
    pub fn group_url(&self) -> &str {
        &self.group_url
    }

    fn build_group_url(&self) -> String {
        let mut url = format!("{}/metrics", self.base);
        push_segment(&mut url, "job", &self.job);
        for (name, value) in &self.labels {
            push_segment(&mut url, name, value);
        }
        url
    }
}

/// Appends `/<name>/<value>`, or `/<name>@base64/<value in url-safe base64>` when the value
/// could not stand in a path segment as it is.
fn push_segment(url: &mut String, name: &str, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
    url.push('/');
    url.push_str(name);
    if plain {
        url.push('/');
        url.push_str(value);
    } else if value.is_empty() {
        // The gateway's documented spelling of an empty value (an empty segment would be
        // collapsed by some proxies).
        url.push_str("@base64/=");
    } else {
        url.push_str("@base64/");
        url.push_str(&URL_SAFE.encode(value));
    }
}

/// The sample lines of a text exposition (what the self-metrics count as samples).
fn sample_lines(text: &[u8]) -> u64 {
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty() && line[0] != b'#')
        .count() as u64
}

impl Protocol for Pushgateway {
    fn name(&self) -> &'static str {
        "pushgateway"
    }

    fn encode(&mut self, snapshot: &Snapshot) -> Result<Vec<PushRequest>, EncodeError> {
        // A fresh body per push: it moves into the queue (the renderer keeps its own buffers).
        let mut body = Vec::new();
        self.renderer
            .render_into(snapshot, Format::PrometheusText, &self.options, &mut body);
        let samples = sample_lines(&body);
        let mut request = PushRequest::post(&self.group_url, body, samples)
            .header("Content-Type", Format::PrometheusText.content_type());
        request.method = match self.push {
            GroupPush::Replace => Method::Put,
            GroupPush::Update => Method::Post,
        };
        Ok(vec![request])
    }

    fn classify(&mut self, response: &Response) -> Outcome {
        aureon_push::classify_remote_write(response)
    }

    fn supersedes(&self) -> bool {
        true
    }

    fn on_shutdown(&mut self) -> Option<PushRequest> {
        self.delete_on_shutdown.then(|| {
            let mut request = PushRequest::post(&self.group_url, Vec::new(), 0);
            request.method = Method::Delete;
            request
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aureon_telemetry::Registry;

    #[test]
    fn the_grouping_key_keeps_every_value_as_given() {
        let g = Pushgateway::new("http://gw:9091/", "aureon_stress")
            .unwrap()
            .grouping_label("instance", "node-1.eu")
            .unwrap()
            .grouping_label("path", "/var/lib/aureon")
            .unwrap()
            .grouping_label("empty", "")
            .unwrap();
        assert_eq!(
            g.group_url(),
            "http://gw:9091/metrics/job/aureon_stress/instance/node-1.eu\
             /path@base64/L3Zhci9saWIvYXVyZW9u/empty@base64/="
        );
        let decoded = URL_SAFE.decode("L3Zhci9saWIvYXVyZW9u").unwrap();
        assert_eq!(decoded, b"/var/lib/aureon");
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        assert!(Pushgateway::new("gw:9091", "j").is_err());
        assert!(Pushgateway::new("http://gw:9091", "").is_err());
        let g = || Pushgateway::new("http://gw:9091", "j").unwrap();
        assert!(g().grouping_label("job", "x").is_err());
        assert!(g().grouping_label("__name__", "x").is_err());
        assert!(g().grouping_label("bad-name", "x").is_err());
    }

    #[test]
    fn a_push_is_one_put_of_the_text_format_and_shutdown_can_delete() {
        let registry = Registry::new();
        registry.counter("jobs").increment(3);
        registry.gauge("peers").set(2.0);
        let mut g = Pushgateway::new("http://gw:9091", "j").unwrap();
        let requests = g.encode(&registry.snapshot()).unwrap();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.method, Method::Put);
        assert_eq!(r.url, "http://gw:9091/metrics/job/j");
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert!(text.contains("jobs_total 3\n"), "{text}");
        assert!(text.contains("peers 2.0\n"), "{text}");
        assert_eq!(r.samples, sample_lines(&r.body));
        assert!(g.on_shutdown().is_none());
        let mut g = g.group_push(GroupPush::Update).delete_on_shutdown(true);
        assert_eq!(
            g.encode(&registry.snapshot()).unwrap()[0].method,
            Method::Post
        );
        let delete = g.on_shutdown().unwrap();
        assert_eq!(
            (delete.method, delete.url.as_str()),
            (Method::Delete, "http://gw:9091/metrics/job/j")
        );
    }
}
