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
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use haven_core::workspaces::sessions::{TerminalInput, TerminalLink};
use serde::Deserialize;

use crate::session::Page;
use crate::{AppState, WebError};

/// The largest message the browser may send: 64 KiB.
pub const MAX_MESSAGE: usize = 64 * 1024;

// Why the socket closed, shown on the page (a close frame's reason holds at most 123 bytes).
const ENDED: &str = "The terminal closed: the session ended, or it was opened in another window.";
const TOO_BIG: &str = "Over 64 KiB: paste code, not data (data comes in through File Transfer). Reload to reconnect.";
const BROKEN: &str = "The connection broke. Reload to reconnect; the session goes on.";

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
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if let Some(origin) = origin
        && origin.trim_end_matches('/') != state.config.public_url
    {
        tracing::warn!(origin, "a terminal WebSocket from another site was refused");
        return Ok((StatusCode::FORBIDDEN, "A terminal opens only from Haven's own pages.").into_response());
    }
    let link = state.sessions.terminal(&who, &id).await?;
    Ok(upgrade.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE).on_upgrade(move |socket| bridge(socket, link)))
}

/// Copies output to the browser and input to the terminal until either side ends.
async fn bridge(socket: WebSocket, link: TerminalLink) {
    let (mut to_browser, mut from_browser) = socket.split();
    let TerminalLink { backlog, mut output, input } = link;
    if !backlog.is_empty() && to_browser.send(Message::Binary(backlog)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = output.next() => match out {
                Some(bytes) => {
                    if to_browser.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                None => {
                    let frame = CloseFrame { code: 1000, reason: ENDED.into() };
                    let _ = to_browser.send(Message::Close(Some(frame))).await;
                    return;
                }
            },
            msg = from_browser.next() => {
                let sent = match msg {
                    Some(Ok(Message::Binary(bytes))) => input.send(TerminalInput::Data(bytes)).await,
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<Resize>(text.as_str()) {
                        Ok(r) => input.send(TerminalInput::Resize { cols: r.cols, rows: r.rows }).await,
                        Err(_) => Ok(()),
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Err(e)) => {
                        // Over the limit (what the browser refuses first: a paste of data), or broken.
                        let (code, reason) = if e.to_string().contains("too long") {
                            (1009, TOO_BIG)
                        } else {
                            (1002, BROKEN)
                        };
                        let _ = to_browser.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                        return;
                    }
                    Some(Ok(Message::Close(_))) | None => return,
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_reasons_fit_a_close_frame() {
        for reason in [super::ENDED, super::TOO_BIG, super::BROKEN] {
            assert!(reason.len() <= 123, "{reason}");
        }
    }
}
