//! A terminal session's WebSocket: the browser's xterm.js on one side, the session's PTY on the
//! other. Binary messages carry bytes both ways (output out, keystrokes and pastes in); a text
//! message from the browser is a control message, `{"cols":N,"rows":N}` for the window's size.
//!
//! Only the session's owner connects (the use case checks, and audits anyone else), only from
//! Haven's own pages (a browser always sends `Origin`; another site's is refused, so a page
//! elsewhere cannot drive a terminal with the user's cookie), and a message is at most
//! [`MAX_MESSAGE`] bytes: pasting code works, pasting a dataset does not (data comes in through
//! File Transfer).

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use haven_core::workspaces::sessions::{TerminalInput, TerminalLink};
use serde::Deserialize;

use crate::session::Page;
use crate::{AppState, WebError};

/// The largest message the browser may send: 64 KiB.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// What the WebSocket layer reads before refusing outright. A message between this and
/// [`MAX_MESSAGE`] is read whole and refused with a reason (a connection dropped while its bytes
/// still arrive is reset, and the browser would never learn why).
const MAX_READ: usize = 1024 * 1024;

// Why the socket closed, shown on the page (a close frame's reason holds at most 123 bytes).
const ENDED: &str = "The terminal closed: the session ended, or it was opened in another window.";
const TOO_BIG: &str = "Over 64 KiB: paste code, not data (data comes in through File Transfer). Reload to reconnect.";
const BROKEN: &str = "The connection broke. Reload to reconnect; the session goes on.";
const REVOKED: &str =
    "Closed: you signed out, were idle too long, or may no longer use this session. Sign in to reopen it.";

#[derive(Deserialize)]
struct Resize {
    cols: u16,
    rows: u16,
}

pub async fn connect(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Path(id): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, WebError> {
    // Someone else's session, or none: 404 (audited), before anything else is said.
    state.sessions.own_running(&who, &id).await?;
    let Ok(upgrade) = upgrade else {
        return Ok((
            StatusCode::BAD_REQUEST,
            "This address is a terminal's WebSocket; open the session's page instead.",
        )
            .into_response());
    };
    if !super::from_havens_pages(&headers, &state.config.public_url) {
        return Ok((StatusCode::FORBIDDEN, "A terminal opens only from Haven's own pages.").into_response());
    }
    let link = state.sessions.terminal(&who, &id).await?;
    let recheck = Recheck { sessions: state.sessions.clone(), who, id };
    Ok(upgrade
        .max_message_size(MAX_READ)
        .max_frame_size(MAX_READ)
        .on_upgrade(move |socket| bridge(socket, link, recheck)))
}

/// What a terminal's connection is held to while it lasts: the sign-in still standing, the
/// session still its owner's to use (membership, training, the asset open).
struct Recheck {
    sessions: std::sync::Arc<haven_core::workspaces::sessions::Sessions>,
    who: haven_core::caller::Caller,
    id: String,
}

/// How often an open terminal's right to stay open is asked again.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Copies output to the browser and input to the terminal until either side ends; then says
/// why, when there is something to say.
async fn bridge(socket: WebSocket, link: TerminalLink, recheck: Recheck) {
    let (mut to_browser, mut from_browser) = socket.split();
    let TerminalLink { backlog, mut output, input } = link;
    if !backlog.is_empty() && to_browser.send(Message::Binary(backlog)).await.is_err() {
        return;
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    let mut last_key = tokio::time::Instant::now();
    let (code, reason) = loop {
        tokio::select! {
            _ = ticks.tick() => {
                let quiet_us = i64::try_from(last_key.elapsed().as_micros()).unwrap_or(i64::MAX);
                if !recheck.sessions.still_attached(&recheck.who, &recheck.id, quiet_us).await.unwrap_or(false) {
                    break (1008, REVOKED);
                }
            }
            out = output.next() => match out {
                Some(bytes) => {
                    if to_browser.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                None => break (1000, ENDED),
            },
            msg = from_browser.next() => {
                let size = match &msg {
                    Some(Ok(Message::Binary(b))) => b.len(),
                    Some(Ok(Message::Text(t))) => t.len(),
                    _ => 0,
                };
                if size > MAX_MESSAGE {
                    break (1009, TOO_BIG);
                }
                let sent = match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        last_key = tokio::time::Instant::now();
                        input.send(TerminalInput::Data(bytes)).await
                    }
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<Resize>(text.as_str()) {
                        Ok(r) => input.send(TerminalInput::Resize { cols: r.cols, rows: r.rows }).await,
                        Err(_) => Ok(()),
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    // Over the limit (what the browser refuses first: a paste of data), or broken.
                    Some(Err(e)) if e.to_string().contains("too long") => break (1009, TOO_BIG),
                    Some(Err(_)) => break (1002, BROKEN),
                    Some(Ok(Message::Close(_))) | None => return,
                };
                if sent.is_err() {
                    break (1000, ENDED);
                }
            }
        }
    };
    let _ = to_browser.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    // Wait a moment for the browser's answering close: dropping the connection while its bytes
    // are still arriving would reset it, and the browser would never see why.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(msg)) = from_browser.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_reasons_fit_a_close_frame() {
        for reason in [super::ENDED, super::TOO_BIG, super::BROKEN, super::REVOKED] {
            assert!(reason.len() <= 123, "{reason}");
        }
    }
}
