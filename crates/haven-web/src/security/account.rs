//! Password, recovery codes, sessions and security questions of the signed-in user.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::CoreError;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::page::{Chrome, Notice, done_message, form_failure, render, render_status, see, when};
use crate::paths;
use crate::session::{Page, Signed, step_up};
use crate::{AppState, WebError};

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "security/password.html")]
struct PasswordPage {
    title: &'static str,
    c: Chrome,
    min_chars: usize,
    expired: bool,
}

pub async fn password_show(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    if let Err(CoreError::StepUpRequired) = state.identity.may_change_password(&who) {
        return Ok(step_up(paths::PASSWORD));
    }
    render(&PasswordPage {
        title: "Change password",
        c: Chrome::new(&csrf, Some(&who), "password"),
        min_chars: state.identity.policy.password_min_chars,
        expired: who.password_expired(),
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: Zeroizing<String>,
    password: Zeroizing<String>,
    password_confirm: Zeroizing<String>,
}

pub async fn password_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    crate::page::limit_fields(
        "A password field",
        &[(&form.current, 1024), (&form.password, 1024), (&form.password_confirm, 1024)],
    )?;
    match state.identity.change_password(&who, &form.current, &form.password, &form.password_confirm).await {
        Ok(()) => Ok(see(&Notice::PasswordChanged.on(paths::SECURITY))),
        Err(CoreError::StepUpRequired) => Ok(step_up(paths::PASSWORD)),
        Err(e) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage {
                title: "Change password",
                c: Chrome::new(&csrf, Some(&who), "password").failed(form_failure(e)?),
                min_chars: state.identity.policy.password_min_chars,
                expired: who.password_expired(),
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "security/recovery.html")]
struct RecoveryPage {
    title: &'static str,
    c: Chrome,
    left: i64,
    codes: Vec<String>,
}

pub async fn recovery_show(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    let left = state.identity.recovery_codes_left(&who).await?;
    render(&RecoveryPage {
        title: "Recovery codes",
        c: Chrome::new(&csrf, Some(&who), "recovery"),
        left,
        codes: vec![],
    })
}

pub async fn recovery_submit(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    match state.identity.regenerate_recovery_codes(&who).await {
        Ok(codes) => render(&RecoveryPage {
            title: "Recovery codes",
            c: Chrome::new(&csrf, Some(&who), "recovery"),
            left: codes.len() as i64,
            codes: codes.iter().map(|c| c.to_string()).collect(),
        }),
        Err(CoreError::StepUpRequired) => Ok(step_up(paths::RECOVERY)),
        Err(e) => Err(e.into()),
    }
}

pub struct SessionRow {
    pub current: bool,
    pub kind: &'static str,
    pub started: String,
    pub last_seen: String,
    pub source: String,
    pub agent: String,
}

#[derive(Template)]
#[template(path = "security/sessions.html")]
struct SessionsPage {
    title: &'static str,
    c: Chrome,
    rows: Vec<SessionRow>,
}

pub async fn sessions_show(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let rows = state
        .identity
        .my_sessions(&who)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            current: who.session.as_ref().is_some_and(|mine| mine.hash == s.hash),
            kind: s.kind.as_str(),
            started: when(s.created_us),
            last_seen: when(s.last_seen_us),
            source: s.source,
            agent: s.user_agent,
        })
        .collect();
    render(&SessionsPage {
        title: "My sessions",
        c: Chrome::new(&csrf, Some(&who), "sessions").notice(done_message(q.done.as_deref())),
        rows,
    })
}

pub async fn sessions_end_others(State(state): State<AppState>, Signed(who): Signed) -> Result<Response, WebError> {
    state.identity.end_other_sessions(&who).await?;
    Ok(see(&Notice::SessionsEnded.on(paths::SESSIONS)))
}

#[derive(Template)]
#[template(path = "security/questions.html")]
struct QuestionsPage {
    title: &'static str,
    c: Chrome,
    questions: Vec<String>,
}

pub async fn questions_show(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    if let Err(CoreError::StepUpRequired) = state.identity.may_set_security_answers(&who) {
        return Ok(step_up(paths::QUESTIONS));
    }
    render(&QuestionsPage {
        title: "Security questions",
        c: Chrome::new(&csrf, Some(&who), "questions"),
        questions: state.identity.policy.security_questions.clone(),
    })
}

#[derive(Deserialize)]
pub struct QuestionsForm {
    question0: String,
    answer0: Zeroizing<String>,
    question1: String,
    answer1: Zeroizing<String>,
    question2: String,
    answer2: Zeroizing<String>,
}

impl QuestionsForm {
    pub fn chosen(self) -> Result<Vec<(String, Zeroizing<String>)>, WebError> {
        let all = [(self.question0, self.answer0), (self.question1, self.answer1), (self.question2, self.answer2)];
        for (q, a) in &all {
            crate::page::limit_fields("A question or answer", &[(q, 400), (a, 400)])?;
        }
        Ok(all.into_iter().collect())
    }
}

pub async fn questions_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<QuestionsForm>,
) -> Result<Response, WebError> {
    let chosen = form.chosen()?;
    match state.identity.set_security_answers(&who, &chosen).await {
        Ok(()) => Ok(see(&Notice::QuestionsSaved.on(if who.needs_token() { paths::TOKENS } else { paths::SECURITY }))),
        Err(CoreError::StepUpRequired) => Ok(step_up(paths::QUESTIONS)),
        Err(e) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &QuestionsPage {
                title: "Security questions",
                c: Chrome::new(&csrf, Some(&who), "questions").failed(form_failure(e)?),
                questions: state.identity.policy.security_questions.clone(),
            },
        ),
    }
}
