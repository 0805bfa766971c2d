//! `src/contrib/Archive/<pkg>/`: the older versions of one package. CRAN publishes the folder as
//! a web server's directory listing; Haven reads only the links in it that name a tarball of this
//! package (`<pkg>_<version>.tar.gz`), so whatever else the page holds cannot matter.

use super::packages::{valid_package_name, valid_version};
use crate::FormatError;
use crate::error::malformed;

pub const MAX_LISTING_BYTES: usize = 4 * 1024 * 1024;

/// The version in `<pkg>_<version>.tar.gz`, when `file` is a tarball of `pkg`.
pub fn tarball_version<'a>(pkg: &str, file: &'a str) -> Option<&'a str> {
    let version = file.strip_prefix(pkg)?.strip_prefix('_')?.strip_suffix(".tar.gz")?;
    valid_version(version).then_some(version)
}

/// Versions listed in an archive folder's page, in the order found, without duplicates.
pub fn archive_versions(listing: &[u8], pkg: &str) -> Result<Vec<String>, FormatError> {
    if !valid_package_name(pkg) {
        return Err(FormatError::BadName(pkg.chars().take(100).collect()));
    }
    if listing.len() > MAX_LISTING_BYTES {
        return Err(FormatError::TooLarge { what: "the upstream archive listing", limit: MAX_LISTING_BYTES });
    }
    let text = std::str::from_utf8(listing).map_err(|_| malformed("the upstream archive listing", "not UTF-8"))?;
    let mut out: Vec<String> = Vec::new();
    for piece in text.split("href=\"").skip(1) {
        let Some((href, _)) = piece.split_once('"') else { continue };
        let file = href.strip_prefix("./").unwrap_or(href);
        if let Some(v) = tarball_version(pkg, file)
            && !out.iter().any(|o| o == v)
        {
            out.push(v.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_this_packages_tarballs() {
        let page = br#"<html><body><h1>Index of /src/contrib/Archive/rlang</h1><pre>
<a href="../">Parent</a>
<a href="rlang_0.1.tar.gz">rlang_0.1.tar.gz</a> 2017-05-06 12:00  84K
<a href="./rlang_1.1.3.tar.gz">rlang_1.1.3.tar.gz</a>
<a href="rlang_1.1.3.tar.gz">dup</a>
<a href="other_1.0.tar.gz">x</a>
<a href="rlang_../../etc.tar.gz">x</a>
<a href="rlang_1.0.tar.gz?x">x</a>
</pre></body></html>"#;
        assert_eq!(archive_versions(page, "rlang").unwrap(), vec!["0.1", "1.1.3"]);
        assert!(archive_versions(page, "../x").is_err());
        assert!(archive_versions(b"\xff", "rlang").is_err());
        assert_eq!(tarball_version("rlang", "rlang_1.0-2.tar.gz"), Some("1.0-2"));
        assert_eq!(tarball_version("rlang", "rlangx_1.0.tar.gz"), None);
    }
}
