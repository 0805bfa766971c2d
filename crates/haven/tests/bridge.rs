//! `haven sandbox bridge`, the relay Haven starts beside a session's application on a Slurm
//! compute node: only a connection from Haven (TLS in which Haven proves itself with its key, to the
//! certificate the bridge published) reaches the application's socket, and only if that socket's listener has
//! the session's identities. It goes when what started it goes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use haven_core::workspaces::sessions::WebEndpoint;
use haven_sandbox::slurm::{BRIDGE_ENDPOINT, BRIDGE_HAVEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_haven");

/// An echo server on a Unix socket at `path`, as this process's identities.
fn echo(path: &Path) {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// Starts the bridge for `socket` as a child of `sh`, which lives `secs`; the bridge's pid.
fn bridge(run_dir: &Path, socket: &Path, uid: u32, gid: u32, secs: u32) -> (std::process::Child, u32) {
    start(run_dir, &format!("--socket '{}'", socket.display()), uid, gid, secs)
}

fn start(run_dir: &Path, what: &str, uid: u32, gid: u32, secs: u32) -> (std::process::Child, u32) {
    let line = format!(
        "'{BIN}' sandbox bridge --run-dir '{}' {what} --uid {uid} --gid {gid} >/dev/null 2>&1 & echo $!; exec sleep {secs}",
        run_dir.display(),
    );
    let mut sh = Command::new("/bin/sh").args(["-c", &line]).stdout(Stdio::piped()).spawn().unwrap();
    let mut pid = String::new();
    let mut out = sh.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        pid.push(byte[0] as char);
    }
    (sh, pid.trim().parse().unwrap())
}

/// The bridge in `run_dir` accepts this process's Haven key (as Haven writes for its sessions).
fn trust_haven(run_dir: &Path) {
    let key = haven_web::reach::haven_key().unwrap();
    std::fs::write(run_dir.join(BRIDGE_HAVEN), format!("{}\n", hex::encode(key.fingerprint))).unwrap();
}

/// Another Haven's key (one whose certificate has this SHA-256) is the only one it accepts.
fn trust_another(run_dir: &Path) {
    std::fs::write(run_dir.join(BRIDGE_HAVEN), format!("{}\n", "5a".repeat(32))).unwrap();
}

/// An echo server as the application in `run_dir`, the bridge told to accept Haven: the socket, and the
/// identities (this process's) it listens as.
fn application(run_dir: &Path) -> (std::path::PathBuf, u32, u32) {
    let socket = run_dir.join("app.sock");
    echo(&socket);
    trust_haven(run_dir);
    (socket, rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw())
}

async fn published(run_dir: &Path) -> String {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(run_dir.join(BRIDGE_ENDPOINT)) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bridge published no address");
}

/// Sends `hello` through the endpoint; what comes back, or why it could not be sent.
async fn round_trip(endpoint: &WebEndpoint) -> Result<Vec<u8>, String> {
    let mut s = haven_web::reach::connect(endpoint).await.map_err(|e| format!("{e:?}"))?;
    s.write_all(b"hello").await.map_err(|e| e.to_string())?;
    let mut got = vec![0u8; 5];
    let mut n = 0;
    while n < 5 {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut got[n..])).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(k)) => n += k,
            Err(_) => return Err("no answer in 10 s".into()),
        }
    }
    got.truncate(n);
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_haven_reaches_the_session_through_its_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path();
    let (socket, uid, gid) = application(run_dir);
    let (mut sh, pid) = bridge(run_dir, &socket, uid, gid, 600);
    let said = published(run_dir).await;
    let (host, port, _) = haven_web::reach::parse_endpoint(&said).expect("HOST PORT SHA256");
    assert!(!host.is_empty() && port > 0, "{said}");

    let endpoint = WebEndpoint::Bridged { endpoint: run_dir.join(BRIDGE_ENDPOINT) };
    assert_eq!(round_trip(&endpoint).await.unwrap(), b"hello", "Haven's connection reaches the application");

    // A bridge told to accept another Haven's key: this one's handshake fails, nothing reached.
    let other_dir = tempfile::tempdir().unwrap();
    trust_another(other_dir.path());
    let (mut other_sh, _) = bridge(other_dir.path(), &socket, uid, gid, 600);
    published(other_dir.path()).await;
    let wrong = WebEndpoint::Bridged { endpoint: other_dir.path().join(BRIDGE_ENDPOINT) };
    let refused = round_trip(&wrong).await.unwrap_err();
    assert!(refused.contains("NotYet"), "another Haven's connection reaches nothing: {refused}");
    other_sh.kill().unwrap();
    other_sh.wait().unwrap();

    // Another certificate than the one published: Haven refuses the bridge (as it would a
    // machine that took the port over).
    let parts: Vec<&str> = said.split_whitespace().collect();
    std::fs::write(run_dir.join("forged-endpoint"), format!("{} {} {}\n", parts[0], parts[1], "00".repeat(32)))
        .unwrap();
    let forged = WebEndpoint::Bridged { endpoint: run_dir.join("forged-endpoint") };
    assert!(round_trip(&forged).await.is_err(), "an unpinned certificate is refused");

    // Plain bytes, no TLS: nothing comes back and the connection ends.
    let mut plain = tokio::net::TcpStream::connect((host, port)).await.unwrap();
    plain.write_all(&[7u8; 32]).await.unwrap();
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), plain.read_to_end(&mut got)).await;
    assert!(matches!(read, Ok(Ok(_)) | Ok(Err(_))), "the bridge ends a connection that is not TLS");
    assert!(!got.windows(5).any(|w| w == b"hello") && !got.starts_with(b"GET"), "{got:?}");

    // Many at once, some dropped half-way: the bridge goes on answering.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            if i % 3 == 0 {
                let _ = tokio::time::timeout(Duration::from_millis(i), haven_web::reach::connect(&endpoint)).await;
                None
            } else {
                Some(round_trip(&endpoint).await)
            }
        }));
    }
    for t in tasks {
        if let Some(r) = t.await.unwrap() {
            assert_eq!(r.unwrap(), b"hello");
        }
    }
    assert_eq!(round_trip(&endpoint).await.unwrap(), b"hello");

    // What started it goes: the bridge goes within seconds.
    sh.kill().unwrap();
    sh.wait().unwrap();
    let mut gone = false;
    for _ in 0..100 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for a reaper this container may not have.
        if state.is_empty() || state.split_whitespace().nth(2) == Some("Z") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the bridge outlived what started it");
}

/// A socket whose listener is not the session's (a link the session made to another socket, say)
/// is not relayed to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_relays_only_to_the_sessions_own_socket() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path();
    let (socket, uid, gid) = application(run_dir);
    let (mut sh, _) = bridge(run_dir, &socket, uid + 1, gid, 600);
    published(run_dir).await;
    let endpoint = WebEndpoint::Bridged { endpoint: run_dir.join(BRIDGE_ENDPOINT) };
    let refused = round_trip(&endpoint).await.unwrap_err();
    assert!(refused.contains("not listening"), "another identity's socket is not relayed to: {refused}");
    // The session's socket, but another process listening on it: refused, and said to be so.
    let run3 = tempfile::tempdir().unwrap();
    trust_haven(run3.path());
    let (mut sh3, _) = bridge(run3.path(), &socket, uid, gid + 1, 600);
    published(run3.path()).await;
    let other = WebEndpoint::Bridged { endpoint: run3.path().join(BRIDGE_ENDPOINT) };
    assert_eq!(round_trip(&other).await.unwrap_err(), "WrongPeer");
    // A link to the socket is not followed either.
    std::fs::create_dir(run_dir.join("web")).unwrap();
    std::os::unix::fs::symlink(&socket, run_dir.join("web/app.sock")).unwrap();
    let run2 = tempfile::tempdir().unwrap();
    trust_haven(run2.path());
    let (mut sh2, _) = bridge(run2.path(), &run_dir.join("web/app.sock"), uid, gid, 600);
    published(run2.path()).await;
    let linked = WebEndpoint::Bridged { endpoint: run2.path().join(BRIDGE_ENDPOINT) };
    let refused = round_trip(&linked).await.unwrap_err();
    assert!(refused.contains("not listening"), "a link to a socket is not followed: {refused}");
    for s in [&mut sh, &mut sh2, &mut sh3] {
        s.kill().unwrap();
        s.wait().unwrap();
    }
}

/// The package repository the other way: the sandbox's connections to the socket the bridge
/// made are carried, each by a connection Haven opened and left waiting, told to go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandboxs_repository_connections_ride_back_on_havens_carriers() {
    use haven_web::reach::{APPLICATION, CARRIER, GO, open_bridge};
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path();
    trust_haven(run_dir);
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    let (mut sh, _) = start(run_dir, "--repository", uid, gid, 600);
    published(run_dir).await;
    let socket = run_dir.join(haven_sandbox::slurm::REPOSITORY_SOCKET);
    let endpoint = run_dir.join(BRIDGE_ENDPOINT);
    // The socket is there as soon as the address is (the job's script waits for the address).
    assert!(std::fs::metadata(&socket).unwrap().file_type().is_socket(), "the repository socket is made");

    for round in 0..3 {
        let mut carriers = Vec::new();
        for _ in 0..2 {
            carriers.push(open_bridge(&endpoint, CARRIER).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut inside = tokio::net::UnixStream::connect(&socket).await.unwrap();
        inside.write_all(format!("ping {round}").as_bytes()).await.unwrap();
        // One carrier is told to go and carries the bytes; the other goes on waiting.
        let mut carried = None;
        for mut c in carriers {
            let mut first = [0u8; 7];
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut first)).await {
                assert_eq!(&first, format!("{}ping {round}", GO as char).as_bytes());
                carried = Some(c);
                break;
            }
        }
        let mut carrier = carried.expect("a carrier was told to go");
        carrier.write_all(b"pong").await.unwrap();
        carrier.flush().await.unwrap();
        let mut back = [0u8; 4];
        inside.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"pong");
    }

    // A bridge that accepts another Haven's key keeps no carrier of this one's.
    let other_dir = tempfile::tempdir().unwrap();
    trust_another(other_dir.path());
    let (mut other_sh, _) = start(other_dir.path(), "--repository", uid, gid, 600);
    published(other_dir.path()).await;
    if let Ok(mut wrong) = open_bridge(&other_dir.path().join(BRIDGE_ENDPOINT), CARRIER).await {
        // TLS 1.3: the client's side of the handshake ends before the bridge refuses its key.
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), wrong.read_to_end(&mut got)).await;
        assert!(matches!(read, Ok(Err(_))) || matches!(read, Ok(Ok(0))), "refused: {read:?} {got:?}");
    }
    let mut inside =
        tokio::net::UnixStream::connect(other_dir.path().join(haven_sandbox::slurm::REPOSITORY_SOCKET)).await.unwrap();
    inside.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 1];
    let carried = tokio::time::timeout(Duration::from_secs(2), inside.read(&mut got)).await;
    assert!(carried.is_err(), "nothing carries the sandbox's connection: {carried:?}");
    other_sh.kill().unwrap();
    other_sh.wait().unwrap();
    // This bridge has no application: a connection for one gets no answer.
    let mut app = open_bridge(&endpoint, APPLICATION).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), app.read_to_end(&mut got)).await;
    assert!(read.is_ok() && got.is_empty(), "{got:?}");
    sh.kill().unwrap();
    sh.wait().unwrap();
}
