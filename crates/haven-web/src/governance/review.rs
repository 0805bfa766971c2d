//! The IAO's access review of one asset: confirm or remove each member on one page.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::authz::Action;
use haven_core::caller::Caller;
use haven_core::governance::lifecycle::review_opens;

use super::{Refused, day, last_day, refused};
use crate::page::{Chrome, Notice, render, render_status, see};
use crate::paths;
use crate::session::{Page, step_up};
use crate::{AppState, WebError};

pub struct Member {
    user_id: String,
    role: &'static str,
    ends: String,
    confirmed: String,
    /// Confirmed in this review cycle already.
    done: bool,
    /// What the form starts with: `confirm` for those still to confirm, else `later` (the
    /// reviewer's own membership included: the service desk confirms that).
    preset: &'static str,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "governance/review.html")]
struct ReviewPage {
    title: &'static str,
    c: Chrome,
    asset: String,
    due: String,
    opens: String,
    members: Vec<Member>,
}

async fn review_page(state: &AppState, csrf: &str, who: &Caller, name: &str) -> Result<ReviewPage, WebError> {
    state.governance.require_on(who, Action::ReviewMembers, name).await?;
    let view = state.governance.asset_view(who, name).await?;
    let opens_us = review_opens(view.asset.review_due_us);
    Ok(ReviewPage {
        title: "Access review",
        c: Chrome::new(csrf, Some(who), "mine"),
        due: day(view.asset.review_due_us),
        opens: day(opens_us),
        members: view
            .members
            .into_iter()
            .map(|m| Member {
                role: m.role.as_str(),
                ends: last_day(m.ends_us),
                confirmed: day(m.confirmed_us),
                done: m.confirmed_us >= opens_us,
                preset: if m.confirmed_us >= opens_us || m.user_id == who.user_id { "later" } else { "confirm" },
                state: if m.suspended {
                    "suspended"
                } else if m.flagged_us != 0 {
                    "overdue"
                } else {
                    ""
                },
                user_id: m.user_id,
            })
            .collect(),
        asset: view.asset.name,
    })
}

pub async fn show(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    render(&review_page(&state, &csrf, &who, &name).await?)
}

/// The form: `csrf_token`, and for each member `m:<user id>` = `confirm`, `remove` or `later`.
pub async fn submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    if fields.len() > 10_000 {
        return Err(WebError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "The review form is far too long."));
    }
    let mut confirm = Vec::new();
    let mut remove = Vec::new();
    for (key, value) in fields {
        let Some(user) = key.strip_prefix("m:") else { continue };
        match value.as_str() {
            "confirm" => confirm.push(user.to_string()),
            "remove" => remove.push(user.to_string()),
            _ => {}
        }
    }
    match state.governance.review(&who, &name, &confirm, &remove).await {
        Ok(_) => Ok(see(&Notice::ReviewSaved.on(&paths::gov_asset(&name)))),
        Err(e) => match refused(e)? {
            Refused::StepUp => Ok(step_up(&paths::gov_asset_review(&name))),
            Refused::Form(failure) => {
                let mut page = review_page(&state, &csrf, &who, &name).await?;
                page.c = page.c.failed(failure);
                render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
        },
    }
}
