//! Receiver URLs, checked when a protocol is configured rather than at the first send.

/// Checks that `url` is an absolute `http://` or `https://` URL with a host; the error says
/// what is wrong, naming the URL.
pub fn validate_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => {
            return Err(format!(
                "invalid URL {url:?}: scheme {other:?} is not http or https"
            ));
        }
        None => {
            return Err(format!(
                "invalid URL {url:?}: no scheme (expected http:// or https://)"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {url:?}: no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_pass() {
        assert!(validate_url("http://127.0.0.1:9090/api/v1/write").is_ok());
        assert!(validate_url("https://vm.example:8428/api/v1/write").is_ok());
        for bad in [
            "",
            "localhost:9090",
            "ftp://x/",
            "http://",
            "http:// x/",
            "/api/v1/write",
        ] {
            let e = validate_url(bad).unwrap_err();
            assert!(e.contains("invalid URL"), "{bad:?}: {e}");
        }
    }
}
