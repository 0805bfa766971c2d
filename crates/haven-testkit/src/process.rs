//! A real `haven serve` process on a free port, and an HTTPS client that trusts its CA.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Haven {
    pub child: Child,
    pub url: String,
    pub metrics_url: Option<String>,
    pub data_dir: PathBuf,
    pub bootstrap_link: Option<String>,
    pub stdout: mpsc::Receiver<String>,
}

impl Haven {
    /// Start `bin serve` with `args`, wait until it prints its URL, and collect its output.
    pub fn start(bin: &Path, data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Haven {
        Haven::start_on(bin, data_dir, "127.0.0.1:0", args, env)
    }

    /// As [`Haven::start`], listening on `listen` (the same port again, after a restart).
    pub fn start_on(bin: &Path, data_dir: &Path, listen: &str, args: &[&str], env: &[(&str, &str)]) -> Haven {
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg("--data-dir").arg(data_dir).arg("--listen").arg(listen).args(args);
        // Tests run in parallel: the admin listener gets a free port too.
        cmd.env("HAVEN_METRICS__LISTEN", "127.0.0.1:0")
            .env("HAVEN_HTTP__SESSIONS_LISTEN", "127.0.0.1:0")
            .env_remove("HAVEN_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn haven");
        let out = child.stdout.take().expect("stdout");
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut url, mut metrics_url, mut bootstrap_link) = (None, None, None);
        // The banner ends with "Press Ctrl-C to stop."
        loop {
            let line = receive.recv_timeout(Duration::from_secs(60)).expect("haven printed its banner within 60 s");
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("Haven is running at ") {
                url = Some(rest.to_string());
            } else if let Some(rest) = line.strip_prefix("Metrics (admin listener): ") {
                metrics_url = Some(rest.to_string());
            } else if line.starts_with("https://") && line.contains("/bootstrap?token=") {
                bootstrap_link = Some(line.to_string());
            } else if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        Haven {
            child,
            url: url.expect("URL line"),
            metrics_url,
            data_dir: data_dir.to_path_buf(),
            bootstrap_link,
            stdout: receive,
        }
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir.join("tls/ca.pem")).expect("read ca.pem")
    }

    /// An HTTPS client that trusts only this Haven's CA, keeps cookies, and does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(&self.ca_pem()).expect("parse CA");
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client")
    }

    /// SIGKILL: the process ends at once, mid-request, with nothing flushed or finished.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM and wait for the process to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().expect("wait for haven")
    }
}

impl Drop for Haven {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
