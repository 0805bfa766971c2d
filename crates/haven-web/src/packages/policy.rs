//! The package policy for reviewers and the service desk (`/packages/policy`): every rule per
//! ecosystem with the configured mode, cooldown and limits; adding and removing rules; and a
//! per-file check of any package, the same as `haven packages policy|allow|deny|remove|check`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::caller::Caller;
use haven_core::packages::PackageError;
use haven_core::packages::rules::{kind_str, parse_kind};
use haven_packages::policy::Ecosystem;
use serde::Deserialize;

use super::web_error;
use crate::page::{Chrome, Notice, limit_fields, render, render_status, see, when};
use crate::paths;
use crate::session::Page;
use crate::{AppState, WebError};

pub struct RuleRow {
    kind: &'static str,
    name: String,
    spec: String,
    skip_cooldown: bool,
    reason: String,
    added_by: String,
    added: String,
}

pub struct EcosystemView {
    name: &'static str,
    upstream: String,
    mode: &'static str,
    cooldown: u32,
    max_mib: u64,
    licenses: String,
    rules: Vec<RuleRow>,
}

#[derive(Template)]
#[template(path = "packages/policy.html")]
struct PolicyPage {
    title: &'static str,
    c: Chrome,
    ecosystems: Vec<EcosystemView>,
    check_ecosystem: String,
    check_name: String,
    checked: Vec<(String, String)>,
}

async fn page(state: &AppState, csrf: &str, who: &Caller) -> Result<PolicyPage, WebError> {
    let mut ecosystems = Vec::new();
    for e in [Ecosystem::Pypi, Ecosystem::Cran, Ecosystem::Conda] {
        let c = state.packages.config.ecosystem(e);
        let rules = state.packages.rules(who, e).await.map_err(web_error)?;
        ecosystems.push(EcosystemView {
            name: e.as_str(),
            upstream: c.upstream.clone(),
            mode: c.mode.as_str(),
            cooldown: c.min_age_days,
            max_mib: c.max_file_mib,
            licenses: c.licenses.join(", "),
            rules: rules
                .into_iter()
                .map(|r| RuleRow {
                    kind: kind_str(r.kind),
                    name: r.name,
                    spec: r.spec,
                    skip_cooldown: r.skip_cooldown,
                    reason: r.reason,
                    added_by: r.added_by,
                    added: when(r.added_us),
                })
                .collect(),
        });
    }
    Ok(PolicyPage {
        title: "Package policy",
        c: Chrome::new(csrf, Some(who), "policy"),
        ecosystems,
        check_ecosystem: "pypi".into(),
        check_name: String::new(),
        checked: Vec::new(),
    })
}

#[derive(Deserialize)]
pub struct CheckQuery {
    ecosystem: Option<String>,
    name: Option<String>,
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<CheckQuery>,
) -> Result<Response, WebError> {
    let mut p = page(&state, &csrf, &who).await?;
    if let (Some(e), Some(name)) = (q.ecosystem.as_deref().and_then(Ecosystem::parse), q.name) {
        let name: String = name.trim().chars().take(200).collect();
        let rows = state.packages.explain(&who, e, &name, None, None, "noarch").await.map_err(web_error)?;
        p.checked = rows.into_iter().map(|(f, why)| (f, why.unwrap_or_default())).collect();
        if p.checked.is_empty() {
            p.c = p.c.notice(Some(format!("The upstream lists no file of {name}.")));
        }
        p.check_ecosystem = e.as_str().into();
        p.check_name = name;
    }
    if q.done.is_some() {
        p.c = p.c.notice(Some(Notice::PolicyChanged.message().into()));
    }
    render(&p)
}

#[derive(Deserialize)]
pub struct RuleForm {
    kind: String,
    ecosystem: String,
    name: String,
    #[serde(default)]
    spec: String,
    #[serde(default)]
    skip_cooldown: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn change(state: &AppState, who: &Caller, form: &RuleForm, add: bool) -> Result<(), PackageError> {
    let kind = parse_kind(&form.kind).ok_or_else(|| PackageError::BadRequest("Choose allow or deny.".into()))?;
    let e = Ecosystem::parse(&form.ecosystem)
        .ok_or_else(|| PackageError::BadRequest("Choose PyPI, CRAN or conda.".into()))?;
    let spec = Some(form.spec.as_str()).filter(|s| !s.trim().is_empty());
    if add {
        if form.reason.trim().is_empty() {
            return Err(PackageError::BadRequest("Give a reason: it is kept with the rule.".into()));
        }
        let skip = form.skip_cooldown.is_some();
        let rule = state.packages.add_rule(who, e, kind, &form.name, spec, skip, &form.reason).await?;
        state.packages.report_direct_allow(state.identity.mailer.as_ref(), who, &rule, &form.reason).await?;
    } else {
        // An empty specifier names the rule for every version (stored as empty).
        state.packages.remove_rules(who, e, kind, &form.name, Some(form.spec.as_str()), &form.reason).await?;
    }
    Ok(())
}

async fn submit(state: AppState, csrf: String, who: Caller, form: RuleForm, add: bool) -> Result<Response, WebError> {
    limit_fields("A field", &[(&form.name, 400), (&form.spec, 400), (&form.reason, 2000)])?;
    match change(&state, &who, &form, add).await {
        Ok(()) => Ok(see(&Notice::PolicyChanged.on(paths::POLICY))),
        Err(PackageError::BadRequest(m)) => {
            let mut p = page(&state, &csrf, &who).await?;
            p.c = p.c.error(Some(m));
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
        Err(e) => Err(web_error(e)),
    }
}

pub async fn add(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<RuleForm>,
) -> Result<Response, WebError> {
    submit(state, csrf, who, form, true).await
}

pub async fn remove(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<RuleForm>,
) -> Result<Response, WebError> {
    submit(state, csrf, who, form, false).await
}
