//! Running the (synchronous, `Read`-based) checks on an async stream of bytes: the checks run on
//! a thread of their own, fed chunk by chunk through a bounded channel, so memory stays flat and
//! the async workers never block. If the caller goes away, the channel closes and the thread
//! finishes with what it had.

use std::io::{self, Read};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};

use super::checks::{self, FileReport, Thresholds};
use crate::blobs::ByteStream;

/// Chunks in flight between the stream and the checks.
const IN_FLIGHT: usize = 8;

struct ChannelReader {
    chunks: mpsc::Receiver<Result<Bytes, io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match futures::executor::block_on(self.chunks.next()) {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => self.current = b,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// [`checks::check`] on `data`, named `name`.
pub async fn check_stream(name: &str, mut data: ByteStream, t: &Thresholds) -> io::Result<FileReport> {
    let (mut send, chunks) = mpsc::channel(IN_FLIGHT);
    let (done, report) = oneshot::channel();
    let (name, t) = (name.to_string(), t.clone());
    std::thread::Builder::new().name("egress-check".into()).spawn(move || {
        let _ = done.send(checks::check(&name, ChannelReader { chunks, current: Bytes::new() }, &t));
    })?;
    while let Some(chunk) = data.next().await {
        let failed = chunk.is_err();
        // The checks stopped reading (they had enough): nothing more to feed.
        if send.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(send);
    report.await.map_err(|_| io::Error::other("the checks stopped before they finished"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::checks::Verdict;

    #[test]
    fn a_stream_is_checked_as_the_same_bytes_read_at_once() {
        let rows: String = (0..2000).map(|i| format!("area {i},{}\n", if i == 1500 { 3 } else { 40 + i })).collect();
        let text = format!("region,n\n{rows}");
        let chunks: Vec<Result<Bytes, io::Error>> =
            text.as_bytes().chunks(7).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let streamed = futures::executor::block_on(check_stream(
            "t.csv",
            futures::stream::iter(chunks).boxed(),
            &Thresholds::default(),
        ))
        .unwrap();
        let whole = checks::check("t.csv", text.as_bytes(), &Thresholds::default()).unwrap();
        assert_eq!(streamed, whole);
        assert_eq!(streamed.verdict, Verdict::Fail);
    }

    #[test]
    fn a_broken_stream_is_an_error_not_a_verdict() {
        let chunks: Vec<Result<Bytes, io::Error>> =
            vec![Ok(Bytes::from_static(b"a,b\n")), Err(io::Error::other("gone"))];
        let r = futures::executor::block_on(check_stream(
            "t.csv",
            futures::stream::iter(chunks).boxed(),
            &Thresholds::default(),
        ));
        assert!(r.is_err());
    }
}
