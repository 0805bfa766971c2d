//! Content negotiation for simple pages (PEP 691): the client's `Accept` header, with q-values,
//! picks JSON or HTML; `latest` types are answered with the concrete v1 type; nothing acceptable
//! is a 406. The response carries `Vary: Accept` (the caller sets it).

use crate::FormatError;

pub const JSON: &str = "application/vnd.pypi.simple.v1+json";
pub const HTML: &str = "application/vnd.pypi.simple.v1+html";
pub const TEXT_HTML: &str = "text/html";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// HTML, with the content type to answer with (`text/html` or the v1 HTML type).
    Html(&'static str),
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON,
            Format::Html(ct) => ct,
        }
    }
}

/// What one media range offers: (format, q, specific?).
fn offer(range: &str, q: f32) -> Vec<(Format, f32, bool)> {
    match range {
        "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" => {
            vec![(Format::Json, q, true)]
        }
        "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" => {
            vec![(Format::Html(HTML), q, true)]
        }
        "text/html" => vec![(Format::Html(TEXT_HTML), q, true)],
        "*/*" | "text/*" => vec![(Format::Html(TEXT_HTML), q, false)],
        "application/*" => vec![(Format::Json, q, false)],
        _ => vec![],
    }
}

/// Pick a format for `accept` (None means `*/*`).
pub fn negotiate(accept: Option<&str>) -> Result<Format, FormatError> {
    let header = accept.map(str::trim).filter(|h| !h.is_empty()).unwrap_or("*/*");
    let mut best: Option<(Format, f32, bool)> = None;
    for part in header.split(',').take(32) {
        let mut pieces = part.split(';');
        let range = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for param in pieces {
            if let Some(v) = param.trim().strip_prefix("q=") {
                q = v.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        for candidate in offer(&range, q) {
            let better = match best {
                None => true,
                Some((_, bq, bspecific)) => candidate.1 > bq || (candidate.1 == bq && candidate.2 && !bspecific),
            };
            if better {
                best = Some(candidate);
            }
        }
    }
    best.map(|(f, _, _)| f).ok_or_else(|| {
        FormatError::NotAcceptable(format!(
            "ask for {JSON}, {HTML} or {TEXT_HTML}; got {:?}",
            header.chars().take(200).collect::<String>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_clients_get_json_and_browsers_html() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        let uv = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.2, text/html; q=0.01";
        assert_eq!(negotiate(Some(pip)).unwrap(), Format::Json);
        assert_eq!(negotiate(Some(uv)).unwrap(), Format::Json);
        assert_eq!(negotiate(Some("text/html,application/xhtml+xml,*/*;q=0.8")).unwrap(), Format::Html(TEXT_HTML));
        assert_eq!(negotiate(None).unwrap(), Format::Html(TEXT_HTML));
        assert_eq!(negotiate(Some("application/vnd.pypi.simple.latest+json")).unwrap(), Format::Json);
        assert_eq!(negotiate(Some("application/vnd.pypi.simple.v1+html")).unwrap().content_type(), HTML);
        assert_eq!(
            negotiate(Some("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.4")).unwrap(),
            Format::Html(TEXT_HTML)
        );
    }

    #[test]
    fn nothing_acceptable_is_refused() {
        for h in ["application/xml", "application/vnd.pypi.simple.v2+json", "text/html;q=0", "*/*;q=0"] {
            assert!(matches!(negotiate(Some(h)), Err(FormatError::NotAcceptable(_))), "{h}");
        }
    }
}
