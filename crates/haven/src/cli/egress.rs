//! `haven egress …`: the way out of the garden. `haven egress check FILE…` runs the automated
//! checks on files outside any request, so that a checker or a script can try a table first:
//! each finding with its rule, the rule set's version, where it is and its verdict. With
//! `--records`, each file is the records behind a table, and Haven builds the table itself (rows,
//! columns, and a summed column for a table of magnitudes) and checks every cell.
//!
//! Exit status: 0 when every file passes, 1 when any fails (or cannot be read), 3 when none fails
//! but some need a person's review.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use haven_core::egress::checks::{FileReport, Thresholds, Verdict, check, check_records};
use haven_core::egress::records::TableSpec;
use indicatif::{ProgressBar, ProgressStyle};

use haven_core::caller::Caller;

use super::say;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum EgressCommand {
    /// Run the automated checks on files (tables, text, images) and print each finding; exit 0
    /// when all pass, 1 when any fails, 3 when some need review.
    Check(CheckArgs),
    /// List output requests (newest change first), or one asset's.
    List {
        #[arg(long)]
        asset: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one output request: its files with their SHA-256 and verdicts, votes, history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Check a release zip: exit 0 only when the manifest's signature is Haven's and every file's
    /// SHA-256 is the one the manifest states (and nothing is missing or added).
    VerifyManifest {
        zip: PathBuf,
        /// Haven's public signing key (hex), or a file holding it; by default the data
        /// directory's `audit-signing.pub`.
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file instead of text.
    #[arg(long)]
    json: bool,
    /// The files are records (CSV, one row per person or event): build the table --rows ×
    /// --columns from them and check its cells.
    #[arg(long, requires = "rows")]
    records: bool,
    /// The records' column that makes the table's rows.
    #[arg(long, requires = "records")]
    rows: Option<String>,
    /// The records' column that makes the table's columns.
    #[arg(long, requires = "records")]
    columns: Option<String>,
    /// The records' column summed per cell (a table of magnitudes: dominance and p-ratio apply).
    #[arg(long, requires = "records")]
    values: Option<String>,
}

impl EgressCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<i32> {
        match self {
            EgressCommand::Check(args) => Ok(check_files(args, &config.egress.checks)),
            EgressCommand::VerifyManifest { zip, key } => Ok(verify_manifest(&zip, key, &config)),
            EgressCommand::List { asset, json } => {
                let public_url = config.console_url();
                let app = crate::app::open(config, crate::app::Mode::Existing).await?;
                let egress = app.egress(&public_url).await?;
                let list = match egress.all(&Caller::console(), asset.as_deref()).await {
                    Ok(l) => l,
                    Err(e) => return super::usage(e),
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if list.is_empty() {
                    say("No output requests.");
                } else {
                    for r in list {
                        println!(
                            "{}  {:<10} {:<12} {:<10} {}  {}",
                            r.id,
                            r.state,
                            r.asset,
                            r.author,
                            haven_web::page::when(r.updated_us),
                            r.title
                        );
                    }
                }
                Ok(0)
            }
            EgressCommand::Show { id, json } => {
                let public_url = config.console_url();
                let app = crate::app::open(config, crate::app::Mode::Existing).await?;
                let egress = app.egress(&public_url).await?;
                let v = match egress.view(&Caller::console(), &id).await {
                    Ok(v) => v,
                    Err(e) => return super::usage(e),
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                    return Ok(0);
                }
                let c = &v.request;
                say(format!("{}: \"{}\" on {} by {}, {} (turn {})", c.id, c.title, c.asset, c.author, v.state, c.turn));
                for g in &c.groups {
                    say(format!("  group {}: {} (controls: {})", g.name, g.description, g.controls));
                }
                for f in &c.files {
                    say(format!(
                        "  {:<7} {}  {} bytes  sha256 {}  [{}]",
                        c.verdict_of(f).as_str(),
                        f.name,
                        f.bytes,
                        f.sha256,
                        f.group
                    ));
                }
                for e in &c.history {
                    say(format!("  {} · {}: {}", haven_web::page::when(e.at_us), e.actor, e.what));
                }
                Ok(0)
            }
        }
    }
}

/// The names of every header in a zip's central directory, walked from its start for as long
/// as headers follow (however many the end record declares): a reader that trusts another count
/// or keeps another of two same-named entries would see other files than those checked.
fn central_names(mut file: &std::fs::File, start: u64) -> Result<Vec<Vec<u8>>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut names = Vec::new();
    let mut at = start;
    loop {
        let mut fixed = [0u8; 46];
        file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        if file.read_exact(&mut fixed).is_err() || fixed[..4] != *b"PK\x01\x02" {
            return Ok(names);
        }
        let len = |i: usize| u64::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]));
        let (name_len, extra_len, comment_len) = (len(28), len(30), len(32));
        let mut name = vec![0u8; name_len as usize];
        file.read_exact(&mut name).map_err(|e| format!("a central directory header is cut short: {e}"))?;
        names.push(name);
        at += 46 + name_len + extra_len + comment_len;
        if names.len() > 100_000 {
            return Err("more entries than any release holds".into());
        }
    }
}

/// `haven egress verify-manifest`: 0 when the signature and every hash verify, 1 otherwise.
fn verify_manifest(path: &std::path::Path, key: Option<String>, config: &Config) -> i32 {
    match verify_zip(path, key, config) {
        Ok(lines) => {
            for l in lines {
                say(l);
            }
            0
        }
        Err(why) => {
            say(format!("NOT VERIFIED: {why}"));
            1
        }
    }
}

fn verify_zip(path: &std::path::Path, key: Option<String>, config: &Config) -> Result<Vec<String>, String> {
    use haven_core::egress::release::{FILES_DIR, MANIFEST_FILE, SIGNATURE_FILE, verify};
    use std::io::Read;
    let key = match key {
        Some(k) if std::path::Path::new(&k).is_file() => {
            std::fs::read_to_string(&k).map_err(|e| format!("read the key file {k}: {e}"))?
        }
        Some(k) => k,
        None => {
            let p = config.data().audit_public_key();
            std::fs::read_to_string(&p).map_err(|e| {
                format!("no --key given, and {} cannot be read ({e}): give Haven's public signing key", p.display())
            })?
        }
    };
    let file = std::fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file.try_clone().map_err(|e| e.to_string())?)
        .map_err(|e| format!("{} is not a whole zip: {e}", path.display()))?;
    let names = central_names(&file, zip.central_directory_start())?;
    // Exactly the zip Haven writes: nothing before it, and every entry the directory declares
    // readable by one name (a reader keeping the first of two same-named entries would see
    // another file than the one checked here).
    if zip.offset() != 0 || !zip.comment().is_empty() {
        return Err("the zip has bytes before it or a comment: it is not as Haven wrote it".into());
    }
    let distinct: std::collections::BTreeSet<&Vec<u8>> = names.iter().collect();
    if distinct.len() != names.len() || names.len() != zip.len() {
        return Err(format!(
            "the zip's directory holds {} entries under {} distinct names, and declares {}: an entry is repeated or \
             hidden",
            names.len(),
            distinct.len(),
            zip.len()
        ));
    }
    if !zip.is_empty() && zip.by_index_raw(0).map_err(|e| e.to_string())?.header_start() != 0 {
        return Err("the zip's first entry does not start at its first byte: it is not as Haven wrote it".into());
    }
    let mut read = |name: &str| -> Result<Vec<u8>, String> {
        let entry = zip.by_name(name).map_err(|_| format!("the zip has no {name}: it is not a Haven release"))?;
        let mut v = Vec::new();
        entry.take(64 * 1024 * 1024).read_to_end(&mut v).map_err(|e| format!("read {name}: {e}"))?;
        Ok(v)
    };
    let manifest_bytes = read(MANIFEST_FILE)?;
    let signature = read(SIGNATURE_FILE)?;
    let manifest = verify(&manifest_bytes, &signature, &key)?;
    let mut lines = vec![format!(
        "Signature: good (Haven key {}…), request {} \"{}\" on {}, downloaded by {} at {}",
        &key.trim()[..key.trim().len().min(16)],
        manifest.request,
        manifest.title,
        manifest.asset,
        manifest.downloaded_by,
        manifest.downloaded_at
    )];
    let mut expected: std::collections::BTreeMap<String, (u64, String)> =
        manifest.files.iter().map(|f| (format!("{FILES_DIR}{}", f.name), (f.bytes, f.sha256.clone()))).collect();
    if expected.len() != manifest.files.len() {
        return Err("the manifest names a file twice".into());
    }
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
        let name = entry.name().to_string();
        if name == MANIFEST_FILE || name == SIGNATURE_FILE {
            continue;
        }
        let Some((bytes, sha256)) = expected.remove(&name) else {
            return Err(format!("{name} is in the zip but not in the manifest: it was added"));
        };
        let mut hash = haven_crypto::Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            let got = entry.read(&mut buf).map_err(|e| format!("read {name}: {e}"))?;
            if got == 0 {
                break;
            }
            n += got as u64;
            hash.update(&buf[..got]);
        }
        let hex = hex::encode(hash.finish());
        if n != bytes || hex != sha256 {
            return Err(format!("{name}: SHA-256 {hex} ({n} bytes), but the manifest says {sha256} ({bytes} bytes)"));
        }
        lines.push(format!("  ok  {name}  {bytes} bytes  sha256 {sha256}"));
    }
    if let Some(missing) = expected.keys().next() {
        return Err(format!("{missing} is in the manifest but not in the zip"));
    }
    lines.push(format!("Verified: the signature and all {} file(s).", manifest.files.len()));
    Ok(lines)
}

fn check_files(args: CheckArgs, t: &Thresholds) -> i32 {
    let spec = args.rows.clone().filter(|_| args.records).map(|rows| TableSpec {
        rows,
        columns: args.columns.clone(),
        values: args.values.clone(),
    });
    let mut worst = Verdict::Pass;
    for path in &args.files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let report = std::fs::File::open(path).and_then(|file| {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let bar = progress(size, &name);
            let source = bar.wrap_read(file);
            let report = match &spec {
                Some(spec) => check_records(&name, source, spec, t).map(|(r, _)| r),
                None => check(&name, source, t),
            };
            bar.finish_and_clear();
            report
        });
        match report {
            Ok(report) => {
                worst = worst.max(report.verdict);
                if args.json {
                    say(serde_json::to_string(&report).unwrap_or_default());
                } else {
                    print(path, &report);
                }
            }
            Err(e) => {
                worst = Verdict::Fail;
                eprintln!("{}: cannot be read: {e}", path.display());
            }
        }
    }
    match worst {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
        Verdict::Review => 3,
    }
}

/// A bar on a terminal for files that take a while (nothing otherwise).
fn progress(size: u64, name: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() || size < (64 << 20) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    let style =
        ProgressStyle::with_template("checking {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(name.to_string());
    bar
}

fn print(path: &std::path::Path, r: &FileReport) {
    let hash = r.sha256.as_deref().map(|h| format!(", sha256 {}", &h[..16])).unwrap_or_default();
    say(format!(
        "{}: {} ({}, {} bytes{hash}; rules {})",
        path.display(),
        r.verdict.as_str().to_uppercase(),
        r.kind.as_str(),
        r.bytes,
        r.ruleset
    ));
    for f in &r.findings {
        let mut at = Vec::new();
        if let Some(row) = f.row {
            at.push(format!("row {row}"));
        }
        match &f.column {
            Some(cell) if cell.contains(" × ") => at.push(format!("cell {cell}")),
            Some(column) => at.push(format!("column {column}")),
            None => {}
        }
        let at = if at.is_empty() { String::new() } else { format!(" at {}", at.join(", ")) };
        say(format!("  {:<6} {}{at}: {}", f.verdict.as_str(), f.rule, f.detail));
    }
    if r.more_findings > 0 {
        say(format!("  … and {} more findings", r.more_findings));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code
    use std::io::Write;

    use base64::Engine;
    use haven_core::egress::release::{Manifest, ManifestFile, Signature};
    use haven_crypto::signing::SigningKey;

    use super::*;

    fn manifest(files: &[(&str, &[u8])]) -> Manifest {
        Manifest {
            format: haven_core::egress::release::MANIFEST_FORMAT.into(),
            service: "https://haven.example".into(),
            request: "r1".into(),
            asset: "heart".into(),
            title: "T".into(),
            author: "rita".into(),
            identifiable: false,
            turn: 1,
            groups: Vec::new(),
            files: files
                .iter()
                .map(|(name, bytes)| ManifestFile {
                    name: name.to_string(),
                    group: "t".into(),
                    bytes: bytes.len() as u64,
                    sha256: hex::encode(haven_crypto::sha256(bytes)),
                    source: name.to_string(),
                    checked: Verdict::Pass,
                    ruleset: "r".into(),
                    findings: 0,
                    verdict: Verdict::Pass,
                    overrides: Vec::new(),
                })
                .collect(),
            decisions: Vec::new(),
            downloaded_by: "rita".into(),
            downloaded_at: "2026-12-07T00:00:00Z".into(),
        }
    }

    /// A release zip as Haven lays it out, of `m` signed by `key`, holding `files`.
    fn release(key: &SigningKey, m: &Manifest, files: &[(&str, &[u8])], comment: &str) -> Vec<u8> {
        let text = serde_json::to_string_pretty(m).unwrap();
        let sig = Signature {
            signature: base64::engine::general_purpose::STANDARD.encode(key.sign(text.as_bytes())),
            public_key: hex::encode(key.public_key()),
        };
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("manifest.json", stored).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
        zip.start_file("manifest.sig", stored).unwrap();
        zip.write_all(&serde_json::to_vec(&sig).unwrap()).unwrap();
        for (name, bytes) in files {
            zip.start_file(format!("files/{name}"), stored).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.set_comment(comment);
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_release_verifies_only_as_haven_wrote_it() {
        let rng = haven_crypto::SystemRng::new();
        let key = SigningKey::from_seed(SigningKey::generate_seed(&rng).unwrap().as_ref()).unwrap();
        let hexkey = hex::encode(key.public_key());
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default();
        let files: &[(&str, &[u8])] = &[("a.csv", b"region,n\nNorth,120\n"), ("b.txt", b"notes\n")];
        let check = |bytes: Vec<u8>| {
            let path = dir.path().join("r.zip");
            std::fs::write(&path, bytes).unwrap();
            verify_zip(&path, Some(hexkey.clone()), &config)
        };
        let good = release(&key, &manifest(files), files, "");
        let lines = check(good.clone()).unwrap();
        assert!(lines.last().unwrap().contains("all 2 file(s)"), "{lines:?}");
        // Another key, bytes before the zip, a comment, a changed file, an added file, a file
        // named twice in the manifest: each refused.
        let other = SigningKey::from_seed(SigningKey::generate_seed(&rng).unwrap().as_ref()).unwrap();
        assert!(check(release(&other, &manifest(files), files, "")).is_err());
        assert!(check([b"MZ".to_vec(), good.clone()].concat()).is_err());
        assert!(check(release(&key, &manifest(files), files, "hello")).is_err());
        let changed: &[(&str, &[u8])] = &[("a.csv", b"region,n\nNorth,7\n\n"), ("b.txt", b"notes\n")];
        assert!(check(release(&key, &manifest(files), changed, "")).unwrap_err().contains("a.csv"));
        let added: &[(&str, &[u8])] = &[files[0], files[1], ("c.csv", b"x\n")];
        assert!(check(release(&key, &manifest(files), added, "")).unwrap_err().contains("not in the manifest"));
        let twice: &[(&str, &[u8])] = &[files[0], files[0], files[1]];
        assert!(check(release(&key, &manifest(twice), files, "")).unwrap_err().contains("twice"));
        let missing: &[(&str, &[u8])] = &[files[0]];
        assert!(check(release(&key, &manifest(files), missing, "")).unwrap_err().contains("not in the zip"));
        let mut flipped = good;
        let at = flipped.windows(5).position(|w| w == b"North").unwrap();
        flipped[at] = b'S';
        assert!(check(flipped).is_err());
    }
}
