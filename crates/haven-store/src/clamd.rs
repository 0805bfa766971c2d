//! The malware scanner port over clamd's socket protocol: `zINSTREAM` with the plaintext sent
//! as length-prefixed chunks, `zVERSION` for the engine and signature versions.
//!
//! Written here rather than taken from a crate (`clamav-client` exists) because the security of
//! the verdict rests on three details that must be exactly ours: only the exact reply
//! `stream: OK` means clean (a client that looks for "OK" anywhere would call
//! `… OK … ERROR` clean); a connection clamd closes mid-stream (EPIPE, a reset) is read for
//! its `INSTREAM size limit exceeded` reply before it counts as an outage; and every read and
//! write has a deadline, so a hung daemon leaves the arrival pending rather than blocking.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use haven_core::blobs::ByteStream;
use haven_core::transfer::scan::{ScanError, Scanner, Verdict};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where clamd listens: `unix:/run/clamav/clamd.ctl` or `tcp:127.0.0.1:3310`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl ClamdAddress {
    pub fn parse(text: &str) -> Result<ClamdAddress, String> {
        if let Some(path) = text.strip_prefix("unix:").filter(|p| p.starts_with('/')) {
            return Ok(ClamdAddress::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text
            .strip_prefix("tcp:")
            .filter(|a| a.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()))
        {
            return Ok(ClamdAddress::Tcp(addr.to_string()));
        }
        Err(format!("{text:?} is not unix:/ABSOLUTE/PATH or tcp:HOST:PORT"))
    }
}

/// The largest reply read (a signature name is short; anything longer is not clamd).
const MAX_REPLY: usize = 4096;
/// clamd's chunks: at most this many bytes each.
const CHUNK: usize = 64 * 1024;

pub struct Clamd {
    address: ClamdAddress,
    /// What clamd scans whole (its StreamMaxLength, MaxFileSize and MaxScanSize, which the
    /// operator sets at least this high, with AlertExceedsMax yes).
    max_bytes: u64,
    /// The longest wait for any one read or write.
    timeout: Duration,
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

fn down(e: impl std::fmt::Display) -> ScanError {
    ScanError(e.to_string())
}

impl Clamd {
    pub fn new(address: ClamdAddress, max_bytes: u64, timeout: Duration) -> Self {
        Clamd { address, max_bytes, timeout }
    }

    async fn connect(&self) -> Result<Box<dyn Conn>, ScanError> {
        let connect = async {
            Ok::<Box<dyn Conn>, std::io::Error>(match &self.address {
                ClamdAddress::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
                ClamdAddress::Tcp(addr) => Box::new(tokio::net::TcpStream::connect(addr).await?),
            })
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(ScanError(format!("clamd at {:?} cannot be reached: {e}", self.address))),
            Err(_) => Err(ScanError(format!("clamd at {:?} did not answer in time", self.address))),
        }
    }

    async fn write(&self, conn: &mut Box<dyn Conn>, bytes: &[u8]) -> std::io::Result<()> {
        match tokio::time::timeout(self.timeout, conn.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "clamd stopped reading")),
        }
    }

    /// The reply up to its NUL terminator (or the end of the connection).
    async fn reply(&self, conn: &mut Box<dyn Conn>) -> Result<String, ScanError> {
        let mut out = Vec::new();
        let mut byte = [0u8; 512];
        loop {
            let n = match tokio::time::timeout(self.timeout, conn.read(&mut byte)).await {
                Ok(r) => r.map_err(down)?,
                Err(_) => return Err(ScanError("clamd did not answer in time".into())),
            };
            if n == 0 {
                break;
            }
            out.extend_from_slice(&byte[..n]);
            if let Some(end) = out.iter().position(|b| *b == 0) {
                out.truncate(end);
                break;
            }
            if out.len() > MAX_REPLY {
                return Err(ScanError("clamd's reply is too long".into()));
            }
        }
        String::from_utf8(out)
            .map(|s| s.trim_end().to_string())
            .map_err(|_| ScanError("clamd's reply is not text".into()))
    }
}

/// What a reply to INSTREAM means. Only the exact `stream: OK` is clean.
pub fn verdict(reply: &str) -> Result<Verdict, ScanError> {
    if reply == "stream: OK" {
        return Ok(Verdict::Clean);
    }
    if reply.contains("size limit exceeded") {
        return Ok(Verdict::NotScanned("larger than clamd scans (its StreamMaxLength)".into()));
    }
    if let Some(name) = reply.strip_prefix("stream: ").and_then(|r| r.strip_suffix(" FOUND")) {
        // With AlertExceedsMax, clamd reports a limit it hit as a "signature": not scanned whole.
        if name.starts_with("Heuristics.Limits.Exceeded") {
            return Ok(Verdict::NotScanned(format!("clamd stopped at one of its limits ({name})")));
        }
        if !name.is_empty() && !name.contains(char::is_control) {
            return Ok(Verdict::Infected(name.to_string()));
        }
    }
    Err(ScanError(format!("clamd answered {:?}", reply.chars().take(200).collect::<String>())))
}

#[async_trait]
impl Scanner for Clamd {
    async fn version(&self) -> Result<String, ScanError> {
        let mut conn = self.connect().await?;
        self.write(&mut conn, b"zVERSION\0").await.map_err(down)?;
        let v = self.reply(&mut conn).await?;
        if v.is_empty() { Err(ScanError("clamd gave no version".into())) } else { Ok(v) }
    }

    async fn scan(&self, mut bytes: ByteStream) -> Result<Verdict, ScanError> {
        let mut conn = self.connect().await?;
        self.write(&mut conn, b"zINSTREAM\0").await.map_err(down)?;
        let mut sent = Ok(());
        'send: while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| ScanError(format!("the arrival could not be read: {e}")))?;
            for piece in chunk.chunks(CHUNK) {
                let mut framed = Vec::with_capacity(piece.len() + 4);
                framed.extend_from_slice(&(piece.len() as u32).to_be_bytes());
                framed.extend_from_slice(piece);
                if let Err(e) = self.write(&mut conn, &framed).await {
                    sent = Err(e);
                    break 'send;
                }
            }
        }
        if sent.is_ok() {
            sent = self.write(&mut conn, &[0, 0, 0, 0]).await;
        }
        // A daemon that closed the stream early may still have said why (a size limit).
        match (sent, self.reply(&mut conn).await) {
            // Clean counts only when clamd received every byte.
            (Err(e), Ok(reply)) if reply == "stream: OK" => {
                Err(ScanError(format!("clamd said OK but stopped taking the stream: {e}")))
            }
            (_, Ok(reply)) if !reply.is_empty() => verdict(&reply),
            (Err(e), _) => Err(ScanError(format!("clamd stopped taking the stream: {e}"))),
            (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(_)) => Err(ScanError("clamd closed the connection without a verdict".into())),
        }
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_ok_is_clean() {
        assert_eq!(verdict("stream: OK").unwrap(), Verdict::Clean);
        assert_eq!(
            verdict("stream: Eicar-Test-Signature.UNOFFICIAL FOUND").unwrap(),
            Verdict::Infected("Eicar-Test-Signature.UNOFFICIAL".into())
        );
        assert!(matches!(verdict("INSTREAM size limit exceeded. ERROR").unwrap(), Verdict::NotScanned(_)));
        assert!(matches!(
            verdict("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND").unwrap(),
            Verdict::NotScanned(_)
        ));
        for bad in
            ["", "OK", "stream: OK ERROR", "stream: OK\nstream: x FOUND", "stream:  FOUND", "lstat() failed ERROR"]
        {
            assert!(verdict(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_unix_paths_or_tcp_hosts() {
        assert_eq!(
            ClamdAddress::parse("unix:/run/clamav/clamd.ctl"),
            Ok(ClamdAddress::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert_eq!(ClamdAddress::parse("tcp:127.0.0.1:3310"), Ok(ClamdAddress::Tcp("127.0.0.1:3310".into())));
        for bad in ["", "unix:relative", "tcp:3310", "tcp:host:port", "http://x"] {
            assert!(ClamdAddress::parse(bad).is_err(), "{bad:?}");
        }
    }
}
