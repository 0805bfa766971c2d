//! Signed audit checkpoints copied off the host as they are written: an RFC 5424 message over
//! TCP (RFC 6587 octet counting) to `audit.syslog`, for a log host the Haven's own operators
//! cannot rewrite. Each checkpoint covers every event before it, so one that could not be sent
//! is covered by the next that is.

use std::time::Duration;

use haven_core::audit::Checkpoint;
use tokio::io::AsyncWriteExt;

/// The message for `checkpoint`, framed: `LEN SP <PRI>1 TIMESTAMP HOST haven - audit.checkpoint - JSON`.
pub fn frame(checkpoint: &Checkpoint, public_key: &[u8; 32], host: &str) -> Vec<u8> {
    let at = haven_core::from_micros(checkpoint.at_us)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "-".into());
    let body = serde_json::json!({
        "seq": checkpoint.seq,
        "hash": hex::encode(checkpoint.hash),
        "at_us": checkpoint.at_us,
        "signature": hex::encode(&checkpoint.signature),
        "public_key": hex::encode(public_key),
    });
    let host: String = host.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    // Facility "log audit" (13), severity notice (5).
    let message =
        format!("<109>1 {at} {} haven - audit.checkpoint - {body}", if host.is_empty() { "-" } else { &host });
    format!("{} {message}", message.len()).into_bytes()
}

/// Send `checkpoint` to the log host at `address` (host:port).
pub async fn send(address: &str, checkpoint: &Checkpoint, public_key: &[u8; 32], host: &str) -> std::io::Result<()> {
    let framed = frame(checkpoint, public_key, host);
    let send = async {
        let mut conn = tokio::net::TcpStream::connect(address).await?;
        conn.write_all(&framed).await?;
        conn.shutdown().await
    };
    tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the log host did not answer in 10 s"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_checkpoint_reaches_the_log_host_framed_and_verifiable() {
        let key = haven_crypto::signing::SigningKey::from_seed(&[7u8; 32]).unwrap();
        let c = haven_core::audit::sign_checkpoint(&key, 42, [9u8; 32], time::OffsetDateTime::UNIX_EPOCH);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).await.unwrap();
            String::from_utf8(got).unwrap()
        });
        send(&address, &c, &key.public_key(), "node-a").await.unwrap();
        let got = server.await.unwrap();
        let (len, message) = got.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), message.len(), "octet counting");
        assert!(message.starts_with("<109>1 1970-01-01T00:00:00Z node-a haven - audit.checkpoint - {"), "{message}");
        let json: serde_json::Value = serde_json::from_str(&message[message.find('{').unwrap()..]).unwrap();
        assert_eq!(json["seq"], 42);
        // What the log host keeps verifies on its own, with the public key it carries.
        let signature = hex::decode(json["signature"].as_str().unwrap()).unwrap();
        let public = hex::decode(json["public_key"].as_str().unwrap()).unwrap();
        assert!(haven_crypto::signing::verify(&public, &c.message(), &signature));
        // Nothing listening: an error, not a hang.
        drop(send("127.0.0.1:1", &c, &key.public_key(), "node-a").await.unwrap_err());
    }
}
