//! The package repository with real clients against the `haven` binary: pip and uv (PyPI), R's
//! `install.packages` (CRAN, with an archived version) and py-rattler (conda), all through
//! HTTP Basic with a repository token, against `file://` upstreams that `e2e/fixtures.py`
//! builds. Refusals (not allowlisted, cooldown, corrupted upstream file) are checked as the
//! clients report them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use haven_testkit::process::Haven;

const BIN: &str = env!("CARGO_BIN_EXE_haven");

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn haven(args: &[&str], data: &Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("HAVEN_CONFIG")
        .env("HAVEN_METRICS__LISTEN", "127.0.0.1:0")
        .envs(upstream_env_from(data))
        .output()
        .unwrap();
    assert!(out.status.success(), "haven {args:?}: {}", text(&out));
    text(&out)
}

/// The Python with pip, uv and py-rattler (scripts/test makes it); None locally without it.
fn python() -> Option<PathBuf> {
    match std::env::var("HAVEN_TEST_PYTHON") {
        Ok(p) => Some(PathBuf::from(p)),
        Err(_) if haven_testkit::strict() => {
            panic!("HAVEN_TEST_PYTHON is required under CI=true (scripts/test sets it)")
        }
        Err(_) => None,
    }
}

fn rscript() -> bool {
    let found = Command::new("sh").args(["-c", "command -v Rscript"]).output().is_ok_and(|o| o.status.success());
    if !found && haven_testkit::strict() {
        panic!("Rscript is required under CI=true (scripts/test installs r-base-core)");
    }
    found
}

/// Upstream configuration, kept beside the data directory so every `haven` call agrees.
fn upstream_env_from(data: &Path) -> Vec<(String, String)> {
    let fixtures = data.parent().unwrap().join("upstream");
    let url = |p: &str| format!("file://{}/{p}", fixtures.display());
    vec![
        ("HAVEN_PACKAGES__PYPI__UPSTREAM".into(), url("pypi/simple/")),
        ("HAVEN_PACKAGES__CRAN__UPSTREAM".into(), url("cran/")),
        ("HAVEN_PACKAGES__CONDA__UPSTREAM".into(), url("conda/")),
        ("HAVEN_PACKAGES__CONDA__CHANNELS".into(), "[\"haven-test\"]".into()),
    ]
}

fn build_fixtures(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/fixtures.py");
    let out = Command::new("python3").arg(script).arg(dir.join("upstream")).output().unwrap();
    assert!(out.status.success(), "fixtures: {}", text(&out));
}

struct Repo {
    server: Haven,
    tmp: tempfile::TempDir,
    /// `https://user:token@localhost:port`
    base: String,
    ca: PathBuf,
}

fn start() -> Repo {
    let tmp = tempfile::tempdir().unwrap();
    build_fixtures(tmp.path());
    let data = tmp.path().join("data");
    let env = upstream_env_from(&data);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Haven::start(Path::new(BIN), &data, &[], &env);
    haven(&["users", "add", "carol", "--email", "carol@example.org"], &data);
    let minted = haven(&["packages", "token", "carol", "--label", "e2e"], &data);
    let token = minted.lines().last().unwrap().trim().to_string();
    for (eco, name) in [
        ("pypi", "alpha"),
        ("pypi", "beta"),
        ("pypi", "corrupt"),
        ("cran", "hvnA"),
        ("cran", "hvnB"),
        ("cran", "hvnBad"),
        ("conda", "pkga"),
        ("conda", "pkgb"),
    ] {
        haven(&["packages", "allow", eco, name, "--reason", "e2e"], &data);
    }
    let base = server.url.replacen("https://", &format!("https://carol:{token}@"), 1);
    let ca = data.join("tls/ca.pem");
    Repo { server, tmp, base, ca }
}

impl Repo {
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env("SSL_CERT_FILE", &self.ca)
            .env("CURL_CA_BUNDLE", &self.ca)
            .env("HOME", self.tmp.path())
            .env("RATTLER_CACHE_DIR", self.tmp.path().join("rattler-cache"))
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env_remove("PIP_FIND_LINKS")
            .env("UV_NO_CONFIG", "1")
            .output()
            .unwrap()
    }

    fn pip(&self, py: &Path, target: &str, args: &[&str]) -> Output {
        let index = format!("{}/pypi/simple/", self.base);
        let target = self.tmp.path().join(target);
        let mut all = vec!["-m", "pip", "install", "--no-cache-dir", "--retries", "0", "--index-url", &index];
        all.extend(["--target", target.to_str().unwrap()]);
        all.extend(args);
        self.run(py, &all)
    }
}

#[test]
fn pip_and_uv_install_with_dependencies_and_see_refusals() {
    let Some(py) = python() else { return };
    let repo = start();

    let out = repo.pip(&py, "pip1", &["alpha"]);
    assert!(out.status.success(), "{}", text(&out));
    let installed = std::fs::read_dir(repo.tmp.path().join("pip1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<Vec<_>>();
    assert!(installed.contains(&"alpha-1.0.dist-info".to_string()), "{installed:?}");
    // beta 2.0 is one day old: the 7-day cooldown leaves it out, so pip takes 1.0.
    assert!(installed.contains(&"beta-1.0.dist-info".to_string()), "{installed:?}");

    let out = repo.pip(&py, "pip2", &["beta==2.0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("from versions: 1.0"), "{}", text(&out));

    // Not on the allowlist: pip hides index errors unless asked (-vv); the reason is there.
    let out = repo.pip(&py, "pip3", &["-vv", "gamma"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("403") && said.contains("gamma is not on the allowlist"), "{said}");
    assert!(said.contains("/packages/requests/new?ecosystem=pypi&name=gamma"), "{said}");

    // A file that does not match its index: refused, with the reason, and nothing installed.
    let out = repo.pip(&py, "pip4", &["corrupt"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("403 Client Error: Haven refused corrupt/corrupt-1.0-py3-none-any.whl"), "{said}");
    assert!(!repo.tmp.path().join("pip4/corrupt").exists());

    // A wrong token: 401, nothing served.
    let wrong = repo.base.replacen("carol:", "carol:x", 1);
    let out = repo.run(
        &py,
        &[
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--retries",
            "0",
            "--no-input",
            "-d",
            "/tmp/none",
            "--index-url",
            &format!("{wrong}/pypi/simple/"),
            "alpha",
        ],
    );
    assert!(!out.status.success());

    // uv resolves from PEP 691 JSON with core metadata.
    let uv = py.parent().unwrap().join("uv");
    let target = repo.tmp.path().join("uv1");
    let index = format!("{}/pypi/simple/", repo.base);
    let uv_install = |package: &str| {
        let (py, target) = (py.to_str().unwrap(), target.to_str().unwrap());
        let args = ["pip", "install", "--native-tls", "--no-cache", "--python", py, "--index-url", &index];
        repo.run(&uv, &[&args[..], &["--target", target, package]].concat())
    };
    let out = uv_install("alpha");
    assert!(out.status.success(), "{}", text(&out));
    assert!(target.join("beta-1.0.dist-info").exists());
    let out = uv_install("gamma");
    assert!(!out.status.success());
    assert!(text(&out).contains("403 Forbidden"), "{}", text(&out));

    // An OSV dump (a zip, as OSV.dev publishes them) marks beta 1.0 malicious: the copy Haven
    // served is reported, and alpha can no longer be installed.
    let zip = repo.tmp.path().join("osv.zip");
    let record = r#"{"id": "MAL-2026-1", "summary": "Malicious code in beta (PyPI)", "affected": [{"package": {"ecosystem": "PyPI", "name": "beta"}, "versions": ["1.0"]}]}"#;
    let made = Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w'); z.writestr('pypi/MAL-2026-1.json', sys.argv[2]); z.close()"])
        .arg(&zip)
        .arg(record)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let imported = haven(&["packages", "import-osv", zip.to_str().unwrap()], &repo.server.data_dir);
    assert!(imported.contains("Imported 1 advisories"), "{imported}");
    assert!(imported.contains("pypi beta/beta-1.0-py3-none-any.whl: malicious MAL-2026-1"), "{imported}");
    let out = repo.pip(&py, "pip5", &["alpha"]);
    assert!(!out.status.success(), "{}", text(&out));

    // Every download is in the audit trail, as carol; the corrupted file as a refusal.
    let audit = haven(&["audit", "export"], &repo.server.data_dir);
    assert!(
        audit.lines().any(|l| l.contains("package.download") && l.contains("\"carol\"") && l.contains("alpha-1.0")),
        "{audit}"
    );
    assert!(audit.lines().any(|l| l.contains("package.integrity_failed") && l.contains("corrupt-1.0")), "{audit}");
}

#[test]
fn r_installs_with_dependencies_and_an_archived_version() {
    if !rscript() {
        return;
    }
    let repo = start();
    let lib = repo.tmp.path().join("rlib");
    std::fs::create_dir_all(&lib).unwrap();
    let script = format!(
        r#"options(repos = c(HAVEN = "{base}/cran"))
install.packages("hvnA", lib = "{lib}")
library(hvnA, lib.loc = "{lib}")
cat("hvnA", hvnA_version(), "\n")
cat("hvnB", as.character(packageVersion("hvnB", lib.loc = "{lib}")), "\n")
install.packages("{base}/cran/src/contrib/Archive/hvnB/hvnB_1.0.tar.gz", repos = NULL, type = "source", lib = "{lib}")
cat("archived hvnB", as.character(packageVersion("hvnB", lib.loc = "{lib}")), "\n")
# remotes::install_version finds the archived version through Meta/archive.rds.
if (!requireNamespace("remotes", quietly = TRUE)) stop("R's remotes package is needed (apt-get install r-cran-remotes)")
rds <- tempfile()
download.file("{base}/cran/src/contrib/Meta/archive.rds", rds, quiet = TRUE)
archive <- readRDS(rds)
cat("archive.rds:", names(archive), "|", rownames(archive$hvnB), "|", class(archive$hvnB$mtime), "\n")
install.packages("hvnB", lib = "{lib}")
cat("current hvnB", as.character(packageVersion("hvnB", lib.loc = "{lib}")), "\n")
remotes::install_version("hvnB", "1.0", lib = "{lib}", upgrade = "never", quiet = TRUE)
cat("install_version hvnB", as.character(packageVersion("hvnB", lib.loc = "{lib}")), "\n")
withCallingHandlers(
  install.packages("hvnBad", lib = "{lib}"),
  warning = function(w) {{ cat("warning:", conditionMessage(w), "\n"); invokeRestart("muffleWarning") }}
)
cat("installed hvnBad:", "hvnBad" %in% rownames(installed.packages(lib.loc = "{lib}")), "\n")
"#,
        base = repo.base,
        lib = lib.display()
    );
    let out = repo.run(Path::new("Rscript"), &["-e", &script]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("hvnA 1.0"), "{said}");
    assert!(said.contains("hvnB 1.1"), "{said}");
    assert!(said.contains("archived hvnB 1.0"), "{said}");
    assert!(said.contains("archive.rds: hvnB | hvnB/hvnB_1.0.tar.gz | POSIXct POSIXt"), "{said}");
    assert!(said.contains("current hvnB 1.1"), "{said}");
    assert!(said.contains("install_version hvnB 1.0"), "{said}");
    assert!(said.contains("installed hvnBad: FALSE"), "{said}");
    assert!(said.contains("403 Forbidden"), "R reports the refused download: {said}");
}

#[test]
fn rattler_solves_and_installs_from_the_conda_channel() {
    let Some(py) = python() else { return };
    let repo = start();
    let prefix = repo.tmp.path().join("prefix");
    let script = r#"
import asyncio, os, sys
import rattler
async def main(channel, prefix):
    records = await rattler.solve([channel], ["pkga"], platforms=["linux-64", "noarch"])
    print("solved", sorted(f"{r.name.normalized}={r.version}" for r in records))
    await rattler.install(records, prefix)
    print(open(os.path.join(prefix, "share/haven-test/pkgb.txt")).read().strip())
    try:
        await rattler.solve([channel], ["pkgc"], platforms=["linux-64", "noarch"])
        print("pkgc solved")
    except Exception as e:
        print("pkgc refused:", type(e).__name__)
asyncio.run(main(sys.argv[1], sys.argv[2]))
# py-rattler 0.28 sometimes crashes (SIGSEGV) while the interpreter tears its runtime down, after
# all the work is done; leave without that teardown.
sys.stdout.flush()
os._exit(0)
"#;
    let channel = format!("{}/conda/haven-test", repo.base);
    let out = repo.run(&py, &["-c", script, &channel, prefix.to_str().unwrap()]);
    let said = text(&out);
    assert!(out.status.success(), "{}: {said}", out.status);
    assert!(said.contains("solved ['pkga=1.0', 'pkgb=1.0']"), "{said}");
    assert!(said.contains("pkgb 1.0"), "{said}");
    assert!(said.contains("pkgc refused"), "{said}");

    // The console side of reviewing: a reviewer role, the queue, a check of one package.
    let data = &repo.server.data_dir;
    assert!(
        haven(&["users", "role", "carol", "package_reviewer"], data)
            .contains("carol now has the role package_reviewer")
    );
    assert!(haven(&["packages", "requests", "--pending"], data).contains("0 request(s)"));
    let nobody = Command::new(BIN)
        .args(["packages", "token", "nobody", "--label", "x", "--data-dir"])
        .arg(data)
        .env_remove("HAVEN_CONFIG")
        .envs(upstream_env_from(data))
        .output()
        .unwrap();
    assert!(!nobody.status.success() && text(&nobody).contains("there is no user \"nobody\""), "{}", text(&nobody));
    let audit = haven(&["audit", "export"], data);
    assert!(audit.lines().any(|l| l.contains("repo_token.created") && l.contains("\"actor\":\"console\"")), "{audit}");
    let checked = haven(&["packages", "check", "conda", "pkgb", "--channel", "haven-test"], data);
    assert!(
        checked.contains("offered  pkgb-1.0-0.tar.bz2") && checked.contains("offered  pkgb-2.0-0.tar.bz2"),
        "{checked}"
    );
    let policy = haven(&["packages", "policy", "conda"], data);
    assert!(policy.contains("allow pkga") && policy.contains("bootstrap allowlist"), "{policy}");
}

/// pip against the real PyPI through Haven (needs the internet; `cargo test -- --ignored`).
#[test]
#[ignore = "needs network access to pypi.org"]
fn pip_installs_from_the_real_pypi() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Haven::start(Path::new(BIN), &data, &[], &[("HAVEN_PACKAGES__ANONYMOUS_READ", "true")]);
    let allow = Command::new(BIN)
        .args(["packages", "allow", "pypi", "six", "--data-dir"])
        .arg(&data)
        .env_remove("HAVEN_CONFIG")
        .output()
        .unwrap();
    assert!(allow.status.success(), "{}", text(&allow));
    let out = Command::new(&py)
        .args(["-m", "pip", "install", "--no-cache-dir", "--target"])
        .arg(tmp.path().join("t"))
        .args(["--index-url", &format!("{}/pypi/simple/", server.url), "six"])
        .env("SSL_CERT_FILE", data.join("tls/ca.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(tmp.path().join("t/six.py").exists());
}
