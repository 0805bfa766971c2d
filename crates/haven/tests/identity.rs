//! End to end with real clients: the `haven` binary sending mail through a real SMTP server
//! (aiosmtpd), codes made by oathtool from the otpauth URI, the operator's `haven users`,
//! `haven tokens import-pskc` (with files encrypted by openssl) and `haven mail list`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use haven_testkit::process::Haven;

const BIN: &str = env!("CARGO_BIN_EXE_haven");
const PASSWORD: &str = "cobalt lantern meadow quarrel";

fn haven(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("HAVEN_CONFIG").env("HAVEN_METRICS__LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run haven")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A tool the test needs: skipped when missing locally, a failure under CI=true.
fn tool(name: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().is_ok_and(|o| o.status.success());
    if !found && haven_testkit::strict() {
        panic!("{name} is required under CI=true (scripts/test installs it)");
    }
    found
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

fn oathtool(args: &[&str]) -> Vec<String> {
    let out = Command::new("oathtool").args(args).output().expect("run oathtool");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

struct Web {
    client: reqwest::Client,
    url: String,
}

impl Web {
    async fn get(&self, path: &str) -> (u16, String) {
        let r = self.client.get(format!("{}{path}", self.url)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
    /// Fetch `form_page` for its CSRF token, then post `fields` to `path`.
    async fn post(&self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let (_, page) = self.get(form_page).await;
        let csrf = field(&page, "csrf_token");
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        let r = self
            .client
            .post(format!("{}{path}", self.url))
            .header("origin", &self.url)
            .form(&all)
            .send()
            .await
            .unwrap();
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (r.status().as_u16(), location, r.text().await.unwrap())
    }
}

fn maildir_message_to(dir: &Path, to: &str) -> Option<String> {
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(dir.join(sub)).into_iter().flatten().flatten() {
            let body = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if body.contains(&format!("To: {to}")) {
                return Some(body);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_over_real_smtp_and_a_token_driven_by_oathtool() {
    let (Ok(smtp), Ok(maildir)) = (std::env::var("HAVEN_TEST_SMTP"), std::env::var("HAVEN_TEST_MAILDIR")) else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_SMTP is required under CI=true (scripts/test starts aiosmtpd)");
        return;
    };
    if !tool("oathtool") {
        return;
    }
    let (host, port) = smtp.split_once(':').unwrap();
    let env = [
        ("HAVEN_MAIL__TRANSPORT", "smtp"),
        ("HAVEN_MAIL__FROM", "Haven <haven@example.org>"),
        ("HAVEN_MAIL__SMTP__HOST", host),
        ("HAVEN_MAIL__SMTP__PORT", port),
        ("HAVEN_MAIL__SMTP__TLS", "none"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], &env);
    let d = data.to_str().unwrap();
    let email = format!("alice-{}@example.org", std::process::id());

    let added = haven(&["users", "add", "alice", "--email", &email, "--data-dir", d], &env);
    assert!(added.status.success(), "{}", text(&added));
    let link = text(&added).lines().find(|l| l.contains("/security/onboard?token=")).unwrap().trim().to_string();
    let mut delivered = None;
    for _ in 0..50 {
        delivered = maildir_message_to(Path::new(&maildir), &email);
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = delivered.expect("the onboarding email reached the SMTP server");
    assert!(message.contains("Subject: Haven - your new account"), "{message}");
    let token = link.split("token=").nth(1).unwrap();
    assert!(message.replace("=\n", "").contains(token), "the email carries the link: {message}");

    let web = Web { client: server.client(), url: server.url.clone() };
    let onboard_page = format!("/security/onboard?token={token}");
    let q: Vec<String> = haven_core::identity::SecurityPolicy::default().security_questions;
    let (status, location, body) = web
        .post(
            &onboard_page,
            "/security/onboard",
            &[
                ("token", token),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("question0", &q[0]),
                ("answer0", "Elm Road"),
                ("question1", &q[1]),
                ("answer1", "St Mary's"),
                ("question2", &q[2]),
                ("answer2", "Kyoto"),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/security/tokens"), "{body}");
    let (status, _, _) = web.post("/security/tokens", "/security/tokens", &[("product", "mobileid_totp")]).await;
    assert_eq!(status, 303);
    let (_, list) = web.get("/security/tokens").await;
    let at = list.find("HVN").unwrap();
    let serial = &list[at..at + 11];
    let pin_page = format!("/security/tokens/{serial}/pin");
    let (status, _, _) = web.post(&pin_page, &pin_page, &[("pin", "4917"), ("pin_confirm", "4917")]).await;
    assert_eq!(status, 303);
    let push = format!("/security/tokens/{serial}/push");
    let (status, _, page) = web.post(&push, &push, &[("method", "screen")]).await;
    assert_eq!(status, 200);
    let uri_at = page.find("otpauth://").unwrap();
    let uri = page[uri_at..uri_at + page[uri_at..].find('<').unwrap()].replace("&amp;", "&");
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_string();

    // oathtool, from the URI's secret: the current code activates the token...
    haven_testkit::web::room_in_totp_window().await;
    let now = oathtool(&["--totp", "-b", &secret]);
    let activate = format!("/security/tokens/{serial}/activate");
    let (status, location, body) = web.post("/security/tokens", &activate, &[("code", &now[0])]).await;
    assert_eq!((status, location.as_str()), (303, "/security/tokens?done=activated"), "{body}");
    assert!(maildir_message_to(Path::new(&maildir), &email).is_some());

    // ...and after signing out, PIN + the next code signs in (the current one is spent).
    let (status, _, _) = web.post("/security", "/security/signout", &[]).await;
    assert_eq!(status, 303);
    let again = web
        .post(
            "/security/signin",
            "/security/signin",
            &[("user_id", "alice"), ("password", PASSWORD), ("passcode", &format!("4917{}", now[0]))],
        )
        .await;
    assert_eq!(again.0, 401, "a used code is refused");
    let window = oathtool(&["--totp", "-w", "1", "-b", &secret]);
    let (status, location, body) = web
        .post(
            "/security/signin",
            "/security/signin",
            &[
                ("user_id", "alice"),
                ("password", PASSWORD),
                ("passcode", &format!("4917{}", window[1])),
                ("next", "/security"),
            ],
        )
        .await;
    // Signed in; the first sign-in asks for the Acceptable Use Statement before going on.
    assert_eq!((status, location.as_str()), (303, "/governance/aus?next=%2Fsecurity"), "{body}");

    // The operator's view and controls.
    let list = haven(&["users", "list", "--data-dir", d], &env);
    assert!(text(&list).contains("alice") && text(&list).contains("active"), "{}", text(&list));
    let show = haven(&["users", "show", "alice", "--data-dir", d], &env);
    assert!(text(&show).contains(serial) && text(&show).contains("Active"), "{}", text(&show));
    assert!(haven(&["users", "lock", "alice", "--data-dir", d], &env).status.success());
    let (status, _) = web.get("/security/tokens").await;
    assert_eq!(status, 303, "locking ended the session");
    assert!(haven(&["users", "unlock", "alice", "--data-dir", d], &env).status.success());
    let missing = haven(&["users", "lock", "nobody", "--data-dir", d], &env);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(server.stop().success());
}

/// Encrypt with AES-128-CBC by openssl; returns IV ‖ ciphertext.
fn openssl_encrypt(key_hex: &str, iv_hex: &str, plain: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, plain).unwrap();
    let out = Command::new("openssl")
        .args(["enc", "-aes-128-cbc", "-K", key_hex, "-iv", iv_hex, "-in"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut v = hex::decode(iv_hex).unwrap();
    v.extend_from_slice(&out.stdout);
    v
}

fn openssl_hmac_sha1(key_hex: &str, data: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, data).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha1", "-mac", "HMAC", "-macopt", &format!("hexkey:{key_hex}"), "-binary"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out.stdout
}

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pskc_files_from_openssl_import_whole_or_not_at_all() {
    if !tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], &[]);
    let d = data.to_str().unwrap();
    let key = "12345678901234567890123456789012";
    let mac_key = "1122334455667788990011223344556677889900";
    let enc_mac_key = openssl_encrypt(key, "000102030405060708090a0b0c0d0e0f", &hex::decode(mac_key).unwrap());
    let package = |serial: &str, iv: &str| {
        let ct = openssl_encrypt(key, iv, b"12345678901234567890");
        let mac = openssl_hmac_sha1(mac_key, &ct);
        format!(
            r#"<KeyPackage><DeviceInfo><Manufacturer>Test</Manufacturer><SerialNo>{serial}</SerialNo></DeviceInfo>
<Key Id="{serial}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp"><AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>
<Data><Secret><EncryptedValue><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></EncryptedValue><ValueMAC>{}</ValueMAC></Secret>
<TimeInterval><PlainValue>30</PlainValue></TimeInterval></Data></Key></KeyPackage>"#,
            b64(&ct),
            b64(&mac)
        )
    };
    let file = |packages: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">
<EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey>
<MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"><MACKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></MACKey></MACMethod>
{packages}</KeyContainer>"#,
            b64(&enc_mac_key)
        )
    };
    let good = file(
        &(package("HW0001", "0f0e0d0c0b0a09080706050403020100")
            + &package("HW0002", "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")),
    );
    let key_file = dir.path().join("psk.hex");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let pskc = dir.path().join("tokens.pskc");
    let k = key_file.to_str().unwrap();
    let p = pskc.to_str().unwrap();

    // A bad MAC in the second package refuses the whole file.
    let second_mac = good.rmatch_indices("<ValueMAC>").next().unwrap().0 + "<ValueMAC>".len();
    let mut tampered = good.clone();
    tampered.replace_range(
        second_mac..second_mac + 4,
        if &good[second_mac..second_mac + 4] == "AAAA" { "BBBB" } else { "AAAA" },
    );
    std::fs::write(&pskc, &tampered).unwrap();
    let out = haven(&["tokens", "import-pskc", p, "--key-file", k, "--data-dir", d], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("MAC") && text(&out).contains("HW0002") && text(&out).contains("nothing was imported"),
        "{}",
        text(&out)
    );
    // Unknown algorithm, and a missing key: refused too.
    std::fs::write(&pskc, good.replace("pskc:totp", "pskc:ocra")).unwrap();
    assert!(text(&haven(&["tokens", "import-pskc", p, "--key-file", k, "--data-dir", d], &[])).contains("unknown"));
    std::fs::write(&pskc, &good).unwrap();
    assert!(text(&haven(&["tokens", "import-pskc", p, "--data-dir", d], &[])).contains("pre-shared key"));
    // The good file imports both.
    let out = haven(&["tokens", "import-pskc", p, "--key-file", k, "--data-dir", d], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("HW0001, HW0002"), "{}", text(&out));
    // The same serials again: refused, nothing changed.
    assert_eq!(haven(&["tokens", "import-pskc", p, "--key-file", k, "--data-dir", d], &[]).status.code(), Some(1));

    // The outbox (the embedded default) holds the onboarding email; `haven mail list` shows it.
    assert!(haven(&["users", "add", "bob", "--email", "bob@example.org", "--data-dir", d], &[]).status.success());
    assert!(haven(&["tokens", "assign", "HW0001", "bob", "--data-dir", d], &[]).status.success());
    let show = text(&haven(&["users", "show", "bob", "--data-dir", d], &[]));
    assert!(show.contains("HW0001") && show.contains("Waiting for its first code"), "{show}");
    let mail = haven(&["mail", "list", "--data-dir", d], &[]);
    assert!(
        text(&mail).contains("bob@example.org") && text(&mail).contains("Haven - your new account"),
        "{}",
        text(&mail)
    );
    // Seeds never appear in the audit trail or the database in clear.
    let db = std::fs::read(data.join("haven.db")).unwrap();
    assert!(!db.windows(20).any(|w| w == b"12345678901234567890"), "seeds are sealed");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_out_over_starttls_and_tls_only_to_a_trusted_server() {
    let vars =
        ["HAVEN_TEST_SMTP_STARTTLS", "HAVEN_TEST_SMTPS", "HAVEN_TEST_SMTP_CA", "HAVEN_TEST_MAILDIR"].map(std::env::var);
    let [Ok(starttls), Ok(smtps), Ok(ca), Ok(maildir)] = vars else {
        assert!(
            !haven_testkit::strict(),
            "the TLS SMTP test servers are required under CI=true (scripts/test starts them)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], &[]);
    let d = data.to_str().unwrap();
    let pid = std::process::id();
    for (mode, addr) in [("starttls", &starttls), ("tls", &smtps)] {
        let (host, port) = addr.split_once(':').unwrap();
        let env = |with_ca: bool| {
            let mut e = vec![
                ("HAVEN_MAIL__TRANSPORT", "smtp".to_string()),
                ("HAVEN_MAIL__SMTP__HOST", host.to_string()),
                ("HAVEN_MAIL__SMTP__PORT", port.to_string()),
                ("HAVEN_MAIL__SMTP__TLS", mode.to_string()),
            ];
            if with_ca {
                e.push(("HAVEN_MAIL__SMTP__CA_FILE", ca.clone()));
            }
            e
        };
        let run = |id: &str, with_ca: bool| {
            let email = format!("{id}-{pid}@example.org");
            let e = env(with_ca);
            let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let out = haven(&["users", "add", id, "--email", &email, "--data-dir", d], &pairs);
            assert!(out.status.success(), "{}", text(&out));
            (email, text(&out))
        };
        // Without the CA the server's certificate is not trusted: nothing is sent, the link is still printed.
        let (untrusted, out) = run(&format!("{mode}-untrusted"), false);
        assert!(out.contains("an email was not sent") && out.contains("/security/onboard?token="), "{out}");
        let (trusted, out) = run(&format!("{mode}-trusted"), true);
        assert!(!out.contains("an email was not sent"), "{out}");
        let mut found = None;
        for _ in 0..50 {
            found = maildir_message_to(Path::new(&maildir), &trusted);
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(found.is_some(), "{mode}: the message arrived over TLS");
        assert!(maildir_message_to(Path::new(&maildir), &untrusted).is_none());
    }
    assert!(server.stop().success());
}
