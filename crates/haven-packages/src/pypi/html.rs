//! Reading an upstream's PEP 503 HTML page (static mirrors and `file://` repositories laid out as
//! `simple/<project>/index.html` serve only this form). A deliberately small, strict reader: it
//! takes the `<a …>text</a>` elements and their attributes, decodes the few character references
//! such pages use, and hands each anchor to the same checks as the JSON parser. Written here
//! rather than pulling in a browser-grade HTML parser: the format is frozen and tiny, and a strict
//! reader refuses what it does not understand instead of guessing.

use super::simple::{self, ProjectPage};
use crate::FormatError;
use crate::error::malformed;

/// One `<a>` element: its attributes (names lower-cased) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub attrs: Vec<(String, String)>,
    pub text: String,
}

impl Anchor {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn decode_entities(s: &str) -> Result<String, FormatError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest
            .find(';')
            .filter(|e| *e <= 10)
            .ok_or_else(|| malformed("an HTML page", "an unterminated character reference"))?;
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" | "#39" => '\'',
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| malformed("an HTML page", "a bad character reference"))?,
            e if e.starts_with('#') => e[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| malformed("an HTML page", "a bad character reference"))?,
            other => return Err(malformed("an HTML page", format!("the character reference &{other}; is unknown"))),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parse the attributes inside `<a …>` (after the tag name).
fn attributes(mut s: &str) -> Result<Vec<(String, String)>, FormatError> {
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() || s == "/" {
            return Ok(attrs);
        }
        let name_end = s.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b':') {
            return Err(malformed("an HTML page", "an attribute name is malformed"));
        }
        s = s[name_end..].trim_start();
        let value = if let Some(after) = s.strip_prefix('=') {
            let after = after.trim_start();
            let (quote, body) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => (q, &after[1..]),
                _ => return Err(malformed("an HTML page", "attribute values must be quoted")),
            };
            let end = body.find(quote).ok_or_else(|| malformed("an HTML page", "an attribute value is not closed"))?;
            s = &body[end + 1..];
            decode_entities(&body[..end])?
        } else {
            String::new()
        };
        if attrs.len() >= 32 {
            return Err(malformed("an HTML page", "too many attributes"));
        }
        attrs.push((name, value));
    }
}

/// The anchors of a PEP 503 page, in order.
pub fn anchors(html: &str) -> Result<Vec<Anchor>, FormatError> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = find_tag(rest) {
        rest = &rest[start + 2..];
        let close = rest.find('>').ok_or_else(|| malformed("an HTML page", "an <a> tag is not closed"))?;
        let attrs = attributes(&rest[..close])?;
        rest = &rest[close + 1..];
        let end = find_close(rest).ok_or_else(|| malformed("an HTML page", "an <a> element is not closed"))?;
        let text = decode_entities(rest[..end].trim())?;
        if text.contains('<') {
            return Err(malformed("an HTML page", "markup inside a link"));
        }
        rest = &rest[end + 4..];
        if out.len() >= simple::MAX_FILES {
            return Err(FormatError::TooLarge { what: "the upstream file list", limit: simple::MAX_FILES });
        }
        out.push(Anchor { attrs, text });
    }
    Ok(out)
}

/// The next `</a>`, any case, without copying (a page can hold 100,000 links).
fn find_close(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("</").map(|i| i + from) {
        if s.as_bytes().get(i + 2..i + 4).is_some_and(|t| t.eq_ignore_ascii_case(b"a>")) {
            return Some(i);
        }
        from = i + 2;
    }
    None
}

/// The next `<a` followed by whitespace or `>` (not `<abbr`, `<area`).
fn find_tag(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find('<').map(|i| i + from) {
        let next = bytes.get(i + 1).map(u8::to_ascii_lowercase);
        let after = bytes.get(i + 2);
        if next == Some(b'a') && after.is_some_and(|b| b.is_ascii_whitespace() || *b == b'>') {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Parse an upstream PEP 503 project page into the same model, through the same checks, as JSON.
pub fn parse_project_html(bytes: &[u8], page_url: &str, requested: &str) -> Result<ProjectPage, FormatError> {
    if bytes.len() > simple::MAX_PAGE_BYTES {
        return Err(FormatError::TooLarge { what: "the upstream project page", limit: simple::MAX_PAGE_BYTES });
    }
    let html = std::str::from_utf8(bytes).map_err(|_| malformed("the upstream project page", "not UTF-8"))?;
    let major = html
        .split("<meta")
        .skip(1)
        .find(|m| m.contains("pypi:repository-version"))
        .and_then(|m| m.split("content=\"").nth(1))
        .and_then(|c| c.split('.').next())
        .unwrap_or("1");
    if major != "1" {
        return Err(malformed("the upstream project page", format!("repository version {major}.x is not 1.x")));
    }
    let mut files = Vec::new();
    for a in anchors(html)? {
        let href = a.attr("href").ok_or_else(|| malformed("an HTML page", "a link has no href"))?;
        let (url, fragment) = href.split_once('#').unwrap_or((href, ""));
        let mut hashes = serde_json::Map::new();
        if let Some(h) = fragment.strip_prefix("sha256=") {
            hashes.insert("sha256".into(), h.into());
        }
        let mut file = serde_json::json!({"filename": a.text, "url": url, "hashes": hashes});
        if let Some(rp) = a.attr("data-requires-python") {
            file["requires-python"] = rp.into();
        }
        if let Some(y) = a.attr("data-yanked") {
            file["yanked"] = if y.is_empty() { true.into() } else { y.into() };
        }
        match a.attr("data-core-metadata").or(a.attr("data-dist-info-metadata")) {
            Some("true") => file["core-metadata"] = true.into(),
            Some(v) if v.starts_with("sha256=") => file["core-metadata"] = serde_json::json!({"sha256": &v[7..]}),
            Some(_) | None => {}
        }
        files.push(file);
    }
    let as_json = serde_json::json!({"meta": {"api-version": "1.0"}, "name": requested, "files": files});
    simple::parse_project_json(as_json.to_string().as_bytes(), page_url, requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pep_503_page_reads_like_its_json() {
        let sha = "cd".repeat(32);
        let html = format!(
            "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links</title></head><body>\n\
             <a href=\"../../packages/alpha-1.0-py3-none-any.whl#sha256={sha}\" data-requires-python=\"&gt;=3.8\" data-core-metadata=\"sha256={sha}\">alpha-1.0-py3-none-any.whl</a><br>\n\
             <A HREF='alpha-0.9.tar.gz#sha256={sha}' data-yanked>alpha-0.9.tar.gz</A>\n\
             <a href=\"alpha-0.8.tar.gz\">alpha-0.8.tar.gz</a><abbr>x</abbr></body></html>"
        );
        let p = parse_project_html(html.as_bytes(), "file:///mirror/simple/alpha/", "alpha").unwrap();
        assert_eq!(p.files.len(), 2);
        assert_eq!(p.dropped_unverifiable, 1);
        assert_eq!(p.files[0].url, "file:///mirror/packages/alpha-1.0-py3-none-any.whl");
        assert_eq!(p.files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(p.files[0].core_metadata, Some(Some(sha.clone())));
        assert_eq!(p.files[1].yanked.as_deref(), Some(""));
        assert_eq!(p.files[1].url, "file:///mirror/simple/alpha/alpha-0.9.tar.gz");
    }

    #[test]
    fn malformed_pages_are_refused() {
        for (html, needle) in [
            ("<a href=x.whl>x.whl</a>", "quoted"),
            ("<a href=\"x.whl\">x.whl", "not closed"),
            ("<a href=\"x.whl\"><b>x</b></a>", "markup"),
            ("<a href=\"x&bogus;.whl\">x.whl</a>", "unknown"),
            ("<a>x.whl</a>", "no href"),
            ("<meta name=\"pypi:repository-version\" content=\"2.0\">", "2.x"),
        ] {
            let e = parse_project_html(html.as_bytes(), "https://u/simple/x/", "x").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
            let _ = parse_project_html(s.as_bytes(), "https://u/simple/a/", "a");
            let _ = anchors(&format!("<a href=\"{s}\">{s}</a>"));
        }
    }
}
