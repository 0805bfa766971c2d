//! A desktop session's WebSocket: noVNC in the browser on one side, the session's X server
//! (TigerVNC's Xvnc) on its RFB socket on the other. The RFB bytes travel unframed in binary
//! messages, which is all websockify does, so Haven bridges them itself.
//!
//! Only pixels and input cross: the clipboard is off in Xvnc itself (both ways, and nothing
//! inside may turn it back on) and the page never wires noVNC's clipboard. Only the session's
//! owner connects, from Haven's own pages; a message from the browser (a key, a pointer move) is
//! at most [`MAX_MESSAGE`]. Served on Haven's own origin, like the terminal: what reaches the
//! browser is pixels drawn by Haven's vendored noVNC, never a page of the session's.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use haven_core::caller::Caller;
use haven_core::workspaces::catalogue::AppKind;
use haven_core::workspaces::sessions::Sessions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::session::Page;
use crate::{AppState, WebError};

/// The largest message the browser may send: RFB's input messages are a few bytes.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// How long (in tenths of a second) a new desktop's X server has to start listening.
const STARTING_TRIES: u32 = 200;
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
const SEND_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);
const REVOKED: &str = "Closed: you signed out, or may no longer use this session. Sign in to reopen it.";
const TOO_BIG: &str = "Over 64 KiB from the browser: a desktop takes keys and pointer moves.";
const ENDED: &str = "The desktop closed: the session ended, or it was opened in another window.";

pub async fn connect(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Path(id): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, WebError> {
    // Someone else's session, or none: 404 (audited), before anything else is said.
    let (session, endpoint) = state.sessions.web(&who, &id, true).await?;
    if session.kind != AppKind::Desktop {
        return Err(WebError::from_status(StatusCode::NOT_FOUND));
    }
    let Ok(upgrade) = upgrade else {
        return Ok((
            StatusCode::BAD_REQUEST,
            "This address is a desktop's WebSocket; open the session's page instead.",
        )
            .into_response());
    };
    if !super::from_havens_pages(&headers, &state.config.public_url) {
        return Ok((StatusCode::FORBIDDEN, "A desktop opens only from Haven's own pages.").into_response());
    }
    // The X server takes a moment to listen after a launch (longer on a busy host): wait for it.
    let mut tries = 0;
    let screen = loop {
        match super::web::connect(&endpoint).await {
            Ok(s) => break s,
            Err(_) if tries < STARTING_TRIES => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let sessions = state.sessions.clone();
    Ok(upgrade
        .max_message_size(MAX_MESSAGE * 16)
        .max_frame_size(MAX_MESSAGE * 16)
        .on_upgrade(move |socket| bridge(socket, screen, sessions, who, id)))
}

async fn bridge(
    socket: WebSocket,
    screen: super::reach::AppStream,
    sessions: std::sync::Arc<Sessions>,
    who: Caller,
    id: String,
) {
    let (mut to_browser, mut from_browser) = socket.split();
    let (mut from_screen, mut to_screen) = tokio::io::split(screen);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    let mut last_use = tokio::time::Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let (code, reason) = loop {
        tokio::select! {
            _ = ticks.tick() => {
                let quiet_us = i64::try_from(last_use.elapsed().as_micros()).unwrap_or(i64::MAX);
                if !sessions.still_attached(&who, &id, quiet_us).await.unwrap_or(false) {
                    break (1008, REVOKED);
                }
            }
            read = from_screen.read(&mut buf) => match read {
                Ok(0) | Err(_) => break (1000, ENDED),
                Ok(n) => {
                    let sent = tokio::time::timeout(SEND_WITHIN, to_browser.send(Message::Binary(buf[..n].to_vec().into()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return;
                    }
                }
            },
            msg = from_browser.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    if bytes.len() > MAX_MESSAGE {
                        break (1009, TOO_BIG);
                    }
                    last_use = tokio::time::Instant::now();
                    sessions.touched(&id);
                    let written = tokio::time::timeout(SEND_WITHIN, to_screen.write_all(&bytes)).await;
                    if !matches!(written, Ok(Ok(()))) {
                        break (1000, ENDED);
                    }
                }
                Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                Some(Err(e)) if e.to_string().contains("too long") => break (1009, TOO_BIG),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
        }
    };
    let close = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    let _ = tokio::time::timeout(SEND_WITHIN, to_browser.send(close)).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_reasons_fit_a_close_frame() {
        for reason in [super::REVOKED, super::TOO_BIG, super::ENDED] {
            assert!(reason.len() <= 123, "{reason}");
        }
    }
}
