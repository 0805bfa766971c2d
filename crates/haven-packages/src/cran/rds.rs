//! `src/contrib/Meta/archive.rds`: the list of archived tarballs that `remotes::install_version`
//! and renv read to find an older version. It is an R object in R's own serialisation format
//! (version 2, big-endian "XDR"), which the caller gzips as `saveRDS()` does: a named list with
//! one data frame per package, the tarball paths (`pkg/pkg_1.0.tar.gz`) as row names and the
//! `size` and `mtime` columns of `file.info()` (NA where Haven does not know them).
//!
//! Written by hand: the Rust crates for this format read it, none writes it, and this object
//! needs only six item types.

/// One archived tarball.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedFile {
    /// `pkg/pkg_1.0.tar.gz`, relative to `Archive/`.
    pub path: String,
    pub size: Option<u64>,
    /// Upload time, seconds since the epoch.
    pub mtime_secs: Option<i64>,
}

// SEXP types and flag bits of R's serialize.c.
const SYMSXP: u32 = 1;
const LISTSXP: u32 = 2;
const CHARSXP: u32 = 9;
const REALSXP: u32 = 14;
const STRSXP: u32 = 16;
const VECSXP: u32 = 19;
const NILVALUE_SXP: u32 = 254;
const IS_OBJECT: u32 = 1 << 8;
const HAS_ATTR: u32 = 1 << 9;
const HAS_TAG: u32 = 1 << 10;
/// CHARSXP encoding levels (shifted by 12): UTF-8 and ASCII.
const UTF8_LEVEL: u32 = 1 << 3;
const ASCII_LEVEL: u32 = 1 << 6;
/// R's NA_real_: a NaN whose low word is 1954.
const NA_REAL: u64 = 0x7FF0_0000_0000_07A2;

struct Writer(Vec<u8>);

/// An attribute value.
enum Attr<'a> {
    Strings(&'a [&'a str]),
}

impl Writer {
    fn int(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    fn len(&mut self, n: usize) {
        // Lengths past i32::MAX need R's long-vector encoding; an archive list never gets there.
        self.int(u32::try_from(n.min(i32::MAX as usize)).unwrap_or(0));
    }

    fn chars(&mut self, s: &str) {
        let level = if s.is_ascii() { ASCII_LEVEL } else { UTF8_LEVEL };
        self.int(CHARSXP | (level << 12));
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn header(&mut self, ty: u32, object: bool, attrs: bool) {
        self.int(ty | if object { IS_OBJECT } else { 0 } | if attrs { HAS_ATTR } else { 0 });
    }

    fn strings(&mut self, items: &[&str]) {
        self.header(STRSXP, false, false);
        self.len(items.len());
        for s in items {
            self.chars(s);
        }
    }

    fn reals(&mut self, items: &[Option<f64>], class: Option<&[&str]>) {
        self.header(REALSXP, class.is_some(), class.is_some());
        self.len(items.len());
        for v in items {
            let bits = v.map_or(NA_REAL, f64::to_bits);
            self.0.extend_from_slice(&bits.to_be_bytes());
        }
        if let Some(class) = class {
            self.attributes(&[("class", Attr::Strings(class))]);
        }
    }

    /// The attribute pairlist that follows an item written with HAS_ATTR.
    fn attributes(&mut self, attrs: &[(&str, Attr<'_>)]) {
        for (name, value) in attrs {
            self.int(LISTSXP | HAS_TAG);
            self.int(SYMSXP);
            self.chars(name);
            match value {
                Attr::Strings(items) => self.strings(items),
            }
        }
        self.int(NILVALUE_SXP);
    }
}

/// The uncompressed serialisation of the archive list (gzip it before serving).
pub fn archive_rds(packages: &[(String, Vec<ArchivedFile>)]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64 + packages.len() * 256));
    w.0.extend_from_slice(b"X\n");
    w.int(2); // format version
    w.int(0x0004_0400); // written as by R 4.4.0
    w.int(0x0002_0300); // readable by R >= 2.3.0

    w.header(VECSXP, false, true);
    w.len(packages.len());
    for (_, files) in packages {
        w.header(VECSXP, true, true);
        w.len(2);
        let sizes: Vec<Option<f64>> = files.iter().map(|f| f.size.map(|s| s as f64)).collect();
        let times: Vec<Option<f64>> = files.iter().map(|f| f.mtime_secs.map(|t| t as f64)).collect();
        w.reals(&sizes, None);
        w.reals(&times, Some(&["POSIXct", "POSIXt"]));
        let rows: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        w.attributes(&[
            ("names", Attr::Strings(&["size", "mtime"])),
            ("class", Attr::Strings(&["data.frame"])),
            ("row.names", Attr::Strings(&rows)),
        ]);
    }
    let names: Vec<&str> = packages.iter().map(|(n, _)| n.as_str()).collect();
    w.attributes(&[("names", Attr::Strings(&names))]);
    w.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(bytes: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }

    #[test]
    fn an_empty_archive_is_an_empty_named_list() {
        let out = archive_rds(&[]);
        assert_eq!(&out[..2], b"X\n");
        assert_eq!((int(&out, 2), int(&out, 10)), (2, 0x0002_0300));
        // VECSXP with attributes, length 0, then names = character(0), then the end of the pairlist.
        assert_eq!(int(&out, 14), VECSXP | HAS_ATTR);
        assert_eq!(int(&out, 18), 0);
        assert_eq!(int(&out, 22), LISTSXP | HAS_TAG);
        assert_eq!(int(&out, 26), SYMSXP);
        assert_eq!(int(&out, 30), CHARSXP | (ASCII_LEVEL << 12));
        assert_eq!(&out[34..][..4], &5u32.to_be_bytes());
        assert_eq!(&out[38..43], b"names");
        assert_eq!((int(&out, 43), int(&out, 47)), (STRSXP, 0));
        assert_eq!(int(&out, 51), NILVALUE_SXP);
        assert_eq!(out.len(), 55);
    }

    #[test]
    fn unknown_values_are_r_na_and_times_are_posixct() {
        let files = vec![ArchivedFile { path: "a1/a1_1.0.tar.gz".into(), size: None, mtime_secs: Some(86_400) }];
        let out = archive_rds(&[("a1".into(), files)]);
        let na = NA_REAL.to_be_bytes();
        assert!(out.windows(8).any(|w| w == na), "size NA");
        assert!(out.windows(8).any(|w| w == 86_400f64.to_bits().to_be_bytes()), "mtime");
        for needle in [&b"POSIXct"[..], b"data.frame", b"row.names", b"a1/a1_1.0.tar.gz"] {
            assert!(out.windows(needle.len()).any(|w| w == needle), "{needle:?}");
        }
        // Non-ASCII text is marked UTF-8 (names are ASCII in practice; paths come from names).
        let mut w = Writer(Vec::new());
        w.chars("é");
        assert_eq!(int(&w.0, 0), CHARSXP | (UTF8_LEVEL << 12));
    }
}
