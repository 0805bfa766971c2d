//! Simple pages as Haven serves them: PEP 691 JSON and PEP 503 HTML from one model, so both forms
//! always list the same files. File URLs point at Haven (the caller builds them); a quarantined
//! project offers no file at all (PEP 792).

use serde_json::{Map, Value, json};

use super::API_VERSION;
use super::simple::{FileEntry, ProjectPage, ProjectStatus};

/// Escape text for HTML content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn offered(page: &ProjectPage) -> &[FileEntry] {
    if page.status == ProjectStatus::Quarantined { &[] } else { &page.files }
}

fn status_json(page: &ProjectPage) -> Value {
    let mut status = Map::new();
    status.insert("status".into(), json!(page.status.as_str()));
    if let Some(r) = &page.status_reason {
        status.insert("reason".into(), json!(r));
    }
    Value::Object(status)
}

/// The PEP 691 JSON project page.
pub fn project_json(page: &ProjectPage, file_url: &dyn Fn(&FileEntry) -> String) -> String {
    let files: Vec<Value> = offered(page)
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("filename".into(), json!(f.filename));
            o.insert("url".into(), json!(file_url(f)));
            o.insert("hashes".into(), json!({"sha256": f.sha256}));
            if let Some(rp) = &f.requires_python {
                o.insert("requires-python".into(), json!(rp));
            }
            if let Some(meta) = &f.core_metadata {
                let v = match meta {
                    Some(h) => json!({"sha256": h}),
                    None => json!(true),
                };
                // Only PEP 714's name: pip 22.3 to 23.1 (Debian bookworm's 23.0.1 among them)
                // fail hard on the old `dist-info-metadata` key in JSON.
                o.insert("core-metadata".into(), v);
            }
            o.insert(
                "yanked".into(),
                match &f.yanked {
                    None => json!(false),
                    Some(r) if r.is_empty() => json!(true),
                    Some(r) => json!(r),
                },
            );
            if let Some(size) = f.size {
                o.insert("size".into(), json!(size));
            }
            if let Some(t) = &f.upload_time {
                o.insert("upload-time".into(), json!(t));
            }
            Value::Object(o)
        })
        .collect();
    json!({
        "meta": {"api-version": API_VERSION},
        "name": page.name,
        "files": files,
        "versions": page.versions,
        "project-status": status_json(page),
    })
    .to_string()
}

/// The PEP 503 HTML project page (with the PEP 592/658/714/792 attributes and tags).
pub fn project_html(page: &ProjectPage, file_url: &dyn Fn(&FileEntry) -> String) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n<meta name=\"pypi:project-status\" content=\"{}\">\n",
        page.status.as_str()
    );
    if let Some(r) = &page.status_reason {
        out.push_str(&format!("<meta name=\"pypi:project-status-reason\" content=\"{}\">\n", escape(r)));
    }
    out.push_str(&format!(
        "<title>Links for {0}</title>\n</head>\n<body>\n<h1>Links for {0}</h1>\n",
        escape(&page.name)
    ));
    for f in offered(page) {
        let mut attrs = String::new();
        if let Some(rp) = &f.requires_python {
            attrs.push_str(&format!(" data-requires-python=\"{}\"", escape(rp)));
        }
        if let Some(reason) = &f.yanked {
            attrs.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
        }
        if let Some(meta) = &f.core_metadata {
            let v = meta.as_ref().map_or("true".to_string(), |h| format!("sha256={h}"));
            attrs.push_str(&format!(" data-core-metadata=\"{v}\" data-dist-info-metadata=\"{v}\""));
        }
        out.push_str(&format!(
            "<a href=\"{}#sha256={}\"{attrs}>{}</a><br>\n",
            escape(&file_url(f)),
            f.sha256,
            escape(&f.filename)
        ));
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The project list (`/simple/`), names normalised.
pub fn index_json(names: &[String]) -> String {
    let projects: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    json!({"meta": {"api-version": API_VERSION}, "projects": projects}).to_string()
}

pub fn index_html(names: &[String]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n<title>Simple index</title>\n</head>\n<body>\n"
    );
    for n in names {
        let n = escape(n);
        out.push_str(&format!("<a href=\"{n}/\">{n}</a><br>\n"));
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pypi::simple::parse_project_json;

    fn sample(status: &str) -> ProjectPage {
        let sha = "ab".repeat(32);
        let body = format!(
            r#"{{"meta":{{"api-version":"1.4"}},"name":"beta-pkg","project-status":{{"status":"{status}","reason":"<b>bad</b>"}},"files":[
            {{"filename":"beta_pkg-1.0-py3-none-any.whl","url":"x.whl","hashes":{{"sha256":"{sha}"}},"requires-python":">=3.8,<4","yanked":"a \"reason\"","core-metadata":{{"sha256":"{sha}"}},"size":5,"upload-time":"2026-01-01T00:00:00Z"}}],"versions":["1.0"]}}"#
        );
        parse_project_json(body.as_bytes(), "https://u.example/simple/beta-pkg/", "beta-pkg").unwrap()
    }

    fn url(f: &FileEntry) -> String {
        format!("/pypi/files/beta-pkg/{}", f.filename)
    }

    #[test]
    fn json_and_html_list_the_same_file_with_every_field() {
        let p = sample("active");
        let j: Value = serde_json::from_str(&project_json(&p, &url)).unwrap();
        assert_eq!(j["meta"]["api-version"], "1.4");
        let f = &j["files"][0];
        assert_eq!(f["url"], "/pypi/files/beta-pkg/beta_pkg-1.0-py3-none-any.whl");
        assert_eq!(f["hashes"]["sha256"], "ab".repeat(32));
        assert_eq!(f["yanked"], "a \"reason\"");
        assert_eq!(f["size"], 5);
        assert_eq!(f["upload-time"], "2026-01-01T00:00:00Z");
        assert_eq!(f["core-metadata"]["sha256"], "ab".repeat(32));
        let h = project_html(&p, &url);
        assert!(h.contains(&format!(
            "href=\"/pypi/files/beta-pkg/beta_pkg-1.0-py3-none-any.whl#sha256={}\"",
            "ab".repeat(32)
        )));
        assert!(h.contains("data-requires-python=\"&gt;=3.8,&lt;4\""), "{h}");
        assert!(h.contains("data-yanked=\"a &quot;reason&quot;\""));
        assert!(h.contains("pypi:project-status-reason\" content=\"&lt;b&gt;bad&lt;/b&gt;\""));
    }

    #[test]
    fn a_quarantined_project_offers_no_file() {
        let p = sample("quarantined");
        let j: Value = serde_json::from_str(&project_json(&p, &url)).unwrap();
        assert_eq!(j["files"].as_array().unwrap().len(), 0);
        assert_eq!(j["project-status"]["status"], "quarantined");
        assert!(!project_html(&p, &url).contains("<a "));
    }

    #[test]
    fn the_index_lists_names() {
        let names = vec!["beta-pkg".to_string(), "zope-interface".to_string()];
        let j: Value = serde_json::from_str(&index_json(&names)).unwrap();
        assert_eq!(j["projects"][1]["name"], "zope-interface");
        assert!(index_html(&names).contains("<a href=\"zope-interface/\">zope-interface</a>"));
    }
}
