//! A browser for process tests: HTTPS with cookies, forms posted with their CSRF token, and
//! onboarding through a link the console printed.

use std::net::IpAddr;

pub struct Browser {
    pub client: reqwest::Client,
    pub url: String,
    /// Its cookies (shared with another client, or read for a WebSocket's handshake).
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

pub struct Answer {
    pub status: u16,
    /// `X-Haven-Upstream`: the node that answered, behind the test balancer.
    pub node: String,
    pub location: String,
    pub body: String,
}

pub const PASSWORD: &str = "cobalt lantern meadow quarrel";

impl Browser {
    /// A browser of `url` trusting `ca_pem`, keeping cookies, not following redirects; from
    /// `local` when given (another loopback address, say).
    pub fn new(url: &str, ca_pem: &[u8], local: Option<IpAddr>) -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).expect("parse CA")])
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .local_address(local)
            .build()
            .expect("client");
        Browser { client, url: url.to_string(), jar }
    }

    /// The `Cookie` header this browser sends to `url`.
    pub fn cookies_for(&self, url: &str) -> String {
        use reqwest::cookie::CookieStore;
        let url = url.parse().expect("a URL");
        self.jar.cookies(&url).and_then(|v| v.to_str().ok().map(str::to_string)).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(self.client.get(format!("{}{path}", self.url)).send().await.unwrap()).await
    }

    /// Fetch `form_page` for its CSRF token, then post `fields` to `path`.
    pub async fn post(&self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let page = self.get(form_page).await;
        let csrf = field(&page.body, "csrf_token");
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        let r = self.client.post(format!("{}{path}", self.url)).header("origin", &self.url).form(&all).send();
        answer(r.await.unwrap()).await
    }

    /// Take an onboarding `link` (as `haven users add` prints it): a password and three
    /// security answers. The browser is then signed in as that person, with no token yet.
    pub async fn onboard(&self, link: &str) {
        let token = link.split("token=").nth(1).expect("a token in the link").to_string();
        let q = haven_core::identity::SecurityPolicy::default().security_questions;
        let done = self
            .post(
                &format!("/security/onboard?token={token}"),
                "/security/onboard",
                &[
                    ("token", &token),
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
        assert_eq!((done.status, done.location.as_str()), (303, "/security/tokens"), "{}", done.body);
    }
}

/// Start a tus upload of `length` bytes named `name` through a drop-off `link` (its endpoint is
/// the link's `/uploads`): the upload's absolute URL.
pub async fn tus_create(client: &reqwest::Client, link: &str, name: &str, length: usize) -> String {
    use base64::Engine;
    let meta = format!("filename {}", base64::engine::general_purpose::STANDARD.encode(name));
    let created = client
        .post(format!("{link}/uploads"))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header("upload-metadata", meta)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let at = created.headers()["location"].to_str().unwrap().to_string();
    if at.starts_with("https://") { at } else { format!("{}{at}", link.split("/transfer").next().unwrap()) }
}

async fn answer(r: reqwest::Response) -> Answer {
    let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (node, location) = (header("x-haven-upstream"), header("location"));
    Answer { status: r.status().as_u16(), node, location, body: r.text().await.unwrap() }
}

/// The value of the form field `name` in `html`.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// The onboarding link in what `haven users add` printed.
pub fn onboarding_link(printed: &str) -> String {
    printed.lines().find(|l| l.contains("/security/onboard?token=")).expect("an onboarding link").trim().to_string()
}

/// Wait, if need be, until at least 3 s remain in the current 30 s TOTP window, before taking a
/// code to activate a token with: a code that reaches Haven after the window turned is accepted
/// one step late and teaches Haven that the token runs a step slow, after which the next
/// window's code (what a test then signs in with) is two steps ahead, and refused.
pub async fn room_in_totp_window() {
    let now = haven_core::Clock::now(&haven_core::clock::SystemClock);
    let left = 30.0 - (now.unix_timestamp_nanos() as f64 / 1e9) % 30.0;
    if left < 3.0 {
        tokio::time::sleep(std::time::Duration::from_secs_f64(left + 0.2)).await;
    }
}
