//! Markdown for service updates, rendered safely: raw HTML in the source is shown as text, links
//! may only be http(s), mailto or relative, and images become links (the CSP would block remote
//! images anyway, and loading them would tell a third party who reads Haven's updates). A small
//! filter over pulldown-cmark's events suffices because nothing but these two event kinds can
//! carry markup or a URL; a general HTML sanitiser would add a second HTML parser to the build.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') && !scheme.contains('?') && !scheme.contains('#') => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

pub fn render(source: &str) -> String {
    let parser =
        Parser::new_ext(source, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                let dest_url = if safe_url(&dest_url) { dest_url } else { CowStr::Borrowed("#") };
                Event::Start(Tag::Link { link_type, dest_url, title, id })
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                let dest_url = if safe_url(&dest_url) { dest_url } else { CowStr::Borrowed("#") };
                Event::Start(Tag::Link { link_type, dest_url, title, id })
            }
            Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
            other => other,
        });
    let mut out = String::with_capacity(source.len() * 2);
    html::push_html(&mut out, parser);
    out
}

/// Plain text of the first paragraph, for summaries.
pub fn summary(source: &str, max: usize) -> String {
    let first = source.split("\n\n").next().unwrap_or("");
    let text: String = Parser::new(first)
        .filter_map(|e| match e {
            Event::Text(t) | Event::Code(t) => Some(t.to_string()),
            Event::SoftBreak | Event::HardBreak => Some(" ".into()),
            _ => None,
        })
        .collect();
    if text.chars().count() > max { format!("{}…", text.chars().take(max).collect::<String>()) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_dangerous_links_are_neutralised() {
        let html = render(
            "Hello <script>alert(1)</script> **bold** [x](javascript:alert(1)) [y](https://ok.example) ![i](http://t.example/p.png)",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<strong>bold</strong>"));
        assert!(!html.to_lowercase().contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://ok.example\""));
        assert!(!html.contains("<img"), "{html}");
        let block = render("<div onclick=\"x()\">hi</div>\n\n[a](JaVaScRiPt:x) [b](data:text/html,x) [c](/updates)");
        assert!(!block.contains("<div"), "{block}");
        assert!(!block.to_lowercase().contains("javascript:") && !block.contains("data:"), "{block}");
        assert!(block.contains("href=\"/updates\""));
    }

    proptest::proptest! {
        /// Service updates are written by administrators, but a compromised or careless account
        /// must still not be able to put script or remote content on every user's home page.
        #[test]
        fn hostile_markdown_never_yields_markup(parts in proptest::collection::vec(proptest::sample::select(vec![
            "<script>", "</script>", "<img src=x onerror=alert(1)>", "<iframe src=//e>", "<a href=\"javascript:x\">",
            "[l](", "![i](", ")", "javascript:alert(1)", "JaVaScRiPt:", "data:text/html,x", "vbscript:x", " ", "\n", "\n\n",
            "`", "```\n", "<", ">", "&#106;avascript:", "\\", "\"", "'", "[r]: javascript:x\n", "[r]", "*", "_", "<div onclick=x>",
            "http://ok.example", "<!--", "-->", "<svg onload=x>", "\t", "| a | b |\n|---|---|\n",
        ]), 0..24)) {
            let src: String = parts.concat();
            let html = render(&src);
            // Text is escaped, so every '<' left opens a tag pulldown-cmark wrote itself.
            for tag in html.split('<').skip(1) {
                let tag = tag.split('>').next().unwrap_or("");
                let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or("");
                proptest::prop_assert!(ALLOWED_TAGS.contains(&name), "tag <{tag}> from {src:?}");
                for attr in tag.split(' ').skip(1).filter(|a| a.contains('=')) {
                    let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
                    proptest::prop_assert!(["href", "title", "style", "class", "start"].contains(&key), "attribute {attr} from {src:?}");
                    if key == "href" {
                        proptest::prop_assert!(safe_url(value.trim_matches('"')), "href {value} from {src:?}");
                    }
                }
            }
        }
    }

    const ALLOWED_TAGS: &[&str] = &[
        "p",
        "a",
        "strong",
        "em",
        "del",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "hr",
        "br",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    ];

    #[test]
    fn summaries_are_plain_text() {
        assert_eq!(summary("Some **bold** text\n\nmore", 100), "Some bold text");
        assert_eq!(summary("abcdef", 3), "abc…");
    }
}
