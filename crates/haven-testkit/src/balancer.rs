//! nginx (Debian's) as the load balancer in front of several `haven serve` nodes: TLS to the
//! client with the first node's certificate, TLS to each node verified against their CAs,
//! round robin, `X-Forwarded-For` set to the client's own address (what `http.trusted_proxies`
//! believes), and the node that answered named in `X-Haven-Upstream` for the tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Balancer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Balancer {
    /// nginx on 127.0.0.1:`port` in front of `nodes` (`127.0.0.1:port` each), serving
    /// `cert`/`key` and trusting the CAs in `cas` (PEM, concatenated) for the nodes.
    pub fn start(
        nginx: &str,
        dir: &Path,
        port: u16,
        nodes: &[String],
        cert: &Path,
        key: &Path,
        cas: &Path,
    ) -> Balancer {
        std::fs::create_dir_all(dir).expect("balancer dir");
        let servers: String = nodes.iter().map(|n| format!("    server {n} max_fails=1 fail_timeout=2s;\n")).collect();
        // As root, nginx's workers would run as nobody and could not use the private temp dirs.
        let user = if crate::is_root() { "user root;\n" } else { "" };
        let d = dir.display();
        let conf = format!(
            "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
               access_log {d}/access.log;\n\
               map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               upstream haven {{\n{servers}    keepalive 16;\n  }}\n\
               server {{\n\
                 listen 127.0.0.1:{port} ssl;\n\
                 ssl_certificate {cert};\n  ssl_certificate_key {key};\n\
                 client_max_body_size 0;\n  proxy_request_buffering off;\n  proxy_buffering off;\n\
                 location / {{\n\
                   proxy_pass https://haven;\n\
                   proxy_http_version 1.1;\n\
                   proxy_set_header Upgrade $http_upgrade;\n\
                   proxy_set_header Connection $connection_upgrade;\n\
                   proxy_set_header Host $http_host;\n\
                   proxy_set_header X-Forwarded-For $remote_addr;\n\
                   proxy_set_header X-Forwarded-Proto https;\n\
                   proxy_ssl_verify on;\n  proxy_ssl_trusted_certificate {cas};\n\
                   proxy_ssl_name localhost;\n  proxy_ssl_server_name on;\n  proxy_ssl_session_reuse on;\n\
                   add_header X-Haven-Upstream $upstream_addr always;\n\
                 }}\n\
               }}\n\
             }}\n",
            cert = cert.display(),
            key = key.display(),
            cas = cas.display(),
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let balancer = Balancer { child, port, dir: dir.to_path_buf() };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return balancer;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(balancer);
        panic!(
            "nginx did not listen on {port}: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "nginx's error log:\n{}",
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
