//! What a push receiver answers is outside input: any status, any `Retry-After`, any body.
//! Every protocol's `classify` (remote write, Pushgateway, OTLP with its `partial_success`
//! body) must give a defined outcome without panicking, and the outcome must follow the
//! specs: only the retryable statuses are retried, a retry never waits past
//! `MAX_RETRY_AFTER`, and only a 2xx counts as delivered.
#![no_main]

use aureon_otlp::{OtlpConfig, OtlpExporter};
use aureon_prometheus::pushgateway::Pushgateway;
use aureon_prometheus::remote_write::RemoteWrite;
use aureon_push::{MAX_RETRY_AFTER, Outcome, Protocol, Response};
use libfuzzer_sys::fuzz_target;
use std::time::SystemTime;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = u16::from_le_bytes([data[0], data[1]]) % 1000;
    let split = (data[2] as usize).min(data.len() - 3);
    let (header, body) = data[3..].split_at(split);
    let retry_after = String::from_utf8_lossy(header).into_owned();
    let response = Response {
        status,
        headers: vec![("retry-after".to_owned(), retry_after.clone())],
        body: body.to_vec(),
    };
    if let Some(d) = aureon_push::parse_retry_after(&retry_after, SystemTime::now()) {
        assert!(d <= MAX_RETRY_AFTER);
    }
    let _ = aureon_otlp::response::decode_success(body);
    let _ = aureon_otlp::response::error_message(body);

    let config = OtlpConfig::builder("fuzz").build().unwrap();
    let mut otlp = OtlpExporter::new("http://127.0.0.1:1/v1/metrics", config, SystemTime::now()).unwrap();
    let mut rw = RemoteWrite::new("http://127.0.0.1:1/api/v1/write").unwrap();
    let mut gw = Pushgateway::new("http://127.0.0.1:1", "fuzz").unwrap();
    let otlp_retryable = matches!(status, 429 | 502 | 503 | 504);
    let prom_retryable = status == 429 || (500..=599).contains(&status);
    for (outcome, retryable) in [
        (otlp.classify(&response), otlp_retryable),
        (rw.classify(&response), prom_retryable),
        (gw.classify(&response), prom_retryable),
    ] {
        match outcome {
            Outcome::Delivered { .. } => assert!((200..=299).contains(&status), "{status}"),
            Outcome::Retry { after } => {
                assert!(retryable, "{status} retried");
                assert!(after.is_none_or(|d| d <= MAX_RETRY_AFTER));
            }
            Outcome::Drop => assert!(!retryable && !(200..=299).contains(&status), "{status}"),
        }
    }
});
