//! The JSON API through the real router, on SQLite and PostgreSQL with the fake clock: a token
//! made on its page after a fresh sign-in; the governance path (asset, training, request,
//! decision, the welcome email) over `/api/v1`; read and write scopes; bad tokens and bad
//! bodies refused with a message that says what to fix, audited, nothing changed; every answer
//! checked against the OpenAPI document's schemas.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use axum::body::Body;
use axum::http::{Request, header};
use futures::TryStreamExt;
use haven_core::Store;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::identity::records::AccountStatus;
use haven_testkit::db::TestDb;
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;

use common::TestApp as App;
use common::browser::person;

haven_testkit::contract!(the_governance_path_over_the_api, tokens_scopes_and_bad_input);

const COURSE: &str = "data-security-awareness";

struct Answer {
    status: u16,
    headers: axum::http::HeaderMap,
    json: Value,
}

async fn call(app: &App, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
    let mut r = Request::builder().method(method).uri(path).header(header::HOST, "haven.example");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(v) => {
            r = r.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    send(app, r.body(body).unwrap()).await
}

async fn send(app: &App, request: Request<Body>) -> Answer {
    let response = haven_web::router(app.state.clone()).oneshot(request).await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let json =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    Answer { status, headers, json }
}

/// Check `value` against `schema` (the subset of JSON Schema the document uses: $ref, type,
/// properties, required, additionalProperties: false, items, enum, oneOf).
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        return if options.iter().any(|o| conforms(doc, o, value, at).is_ok()) {
            Ok(())
        } else {
            Err(format!("{at}: {value} matches none of {schema}"))
        };
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let ok = match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(object) = value.as_object() else { return Err(format!("{at}: not an object: {value}")) };
            let properties = schema["properties"].as_object().cloned().unwrap_or_default();
            for key in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(key.as_str().unwrap()) {
                    return Err(format!("{at}: {key} missing"));
                }
            }
            for (key, v) in object {
                match properties.get(key) {
                    Some(p) => conforms(doc, p, v, &format!("{at}.{key}"))?,
                    None => return Err(format!("{at}: {key} is not in the schema")),
                }
            }
            true
        }
        Some("array") => {
            let Some(items) = value.as_array() else { return Err(format!("{at}: not an array: {value}")) };
            for (i, item) in items.iter().enumerate() {
                conforms(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
            }
            true
        }
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64(),
        Some("boolean") => value.is_boolean(),
        Some("null") => value.is_null(),
        _ => true,
    };
    if ok { Ok(()) } else { Err(format!("{at}: {value} is not a {}", schema["type"])) }
}

/// The success schema of the operation at `method path` (a route pattern).
fn check(doc: &Value, method: &str, pattern: &str, answer: &Answer) {
    let op = &doc["paths"][pattern][method];
    let status = answer.status.to_string();
    let schema = &op["responses"][&status]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "{method} {pattern}: no schema for {status}: {}", answer.json);
    if let Err(e) = conforms(doc, schema, &answer.json, "$") {
        panic!("{method} {pattern}: the answer does not match the document: {e}\n{}", answer.json);
    }
}

/// A read-write (or read) token for a person signed in in `b`, made on the page.
async fn token_for(b: &mut common::browser::Browser<'_>, write: bool) -> String {
    let access = if write { "write" } else { "read" };
    let page = b.post("/security/api-tokens", &[("label", "script"), ("access", access)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page.body.find("haven_api_").expect("the token is shown once");
    page.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

async fn actions(app: &App) -> Vec<String> {
    app.db.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap()
}

async fn the_governance_path_over_the_api(db: TestDb) {
    let app = App::builder().db(db).build().await;
    let doc = call(&app, "GET", "/api/v1/openapi.json", None, None).await.json;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut dora_b = person(&app, "dora", &[Role::Admin]).await;
    let mut owen_b = person(&app, "owen", &[Role::Staff]).await;
    let dora = token_for(&mut dora_b, true).await;
    let owen = token_for(&mut owen_b, true).await;
    app.state.identity.add_account(&Caller::console(), "rex", "rex@example.org", false).await.unwrap();
    // The page lists it, with its access, and never shows the secret again.
    let listed = dora_b.get("/security/api-tokens").await;
    assert!(listed.body.contains("read and write") && !listed.body.contains(&dora), "{}", listed.body);

    let me = call(&app, "GET", "/api/v1/me", Some(&dora), None).await;
    assert_eq!(
        (me.status, me.json["user_id"].as_str(), me.json["scope"].as_str()),
        (200, Some("dora"), Some("api:write"))
    );
    check(&doc, "get", "/api/v1/me", &me);

    // The desk registers an asset and records the IAO's training.
    let body = json!({"name": "heart", "iao": "owen", "ig_ref": "IG/00001", "classification": "identifiable"});
    let made = call(&app, "POST", "/api/v1/assets", Some(&dora), Some(body)).await;
    assert_eq!(made.status, 201, "{}", made.json);
    assert_eq!(made.headers[header::LOCATION], "/api/v1/assets/heart");
    check(&doc, "post", "/api/v1/assets", &made);
    let trained = json!({"user_id": "owen", "course": COURSE, "completed": "2025-12-01"});
    let record = call(&app, "POST", "/api/v1/training", Some(&dora), Some(trained)).await;
    assert_eq!(record.status, 201, "{}", record.json);
    check(&doc, "post", "/api/v1/training", &record);
    let csv = format!("user_id,course,completed\nrex,{COURSE},2025-12-02\n");
    let r = Request::post("/api/v1/training/import")
        .header(header::HOST, "haven.example")
        .header(header::AUTHORIZATION, format!("Bearer {dora}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv))
        .unwrap();
    let imported = send(&app, r).await;
    assert_eq!((imported.status, imported.json["records"].as_i64()), (200, Some(1)), "{}", imported.json);
    check(&doc, "post", "/api/v1/training/import", &imported);

    // The IAO asks for a new person; the desk approves; the welcome email goes out.
    let ask = json!({
        "kind": "add", "user_id": "nina", "email": "nina@example.org", "name": "Nina N", "organisation": "Cardiology",
        "role": "researcher", "ends": "2027-06-30", "justification": "the heart study",
    });
    let asked = call(&app, "POST", "/api/v1/assets/heart/requests", Some(&owen), Some(ask)).await;
    assert_eq!(asked.status, 201, "{}", asked.json);
    check(&doc, "post", "/api/v1/assets/{name}/requests", &asked);
    let id = asked.json["id"].as_i64().unwrap();
    // A new person has no account for training to be recorded against yet: the desk decides.
    assert_eq!(asked.json["status"], "pending");
    let pending = call(&app, "GET", "/api/v1/requests?status=pending", Some(&dora), None).await;
    check(&doc, "get", "/api/v1/requests", &pending);
    assert_eq!(pending.json.as_array().unwrap().len(), 1, "{}", pending.json);
    let decided = call(
        &app,
        "POST",
        &format!("/api/v1/requests/{id}/decision"),
        Some(&dora),
        Some(json!({"decision": "approve", "reason": "training and justification in order"})),
    )
    .await;
    assert_eq!((decided.status, decided.json["status"].as_str()), (200, Some("approved")), "{}", decided.json);
    check(&doc, "post", "/api/v1/requests/{id}/decision", &decided);
    assert!(!decided.json.to_string().contains("/security/onboard"), "the onboarding link goes by email only");
    let mail = app.mail.last_to("nina@example.org").expect("the welcome email");
    assert!(mail.text.contains("/security/onboard"), "{}", mail.text);

    // Reads: the asset, the IAO's own lists, the reports.
    for (pattern, path, token) in [
        ("/api/v1/assets/{name}", "/api/v1/assets/heart", &owen),
        ("/api/v1/assets", "/api/v1/assets", &dora),
        ("/api/v1/me/assets", "/api/v1/me/assets", &owen),
        ("/api/v1/me/requests", "/api/v1/me/requests", &owen),
        ("/api/v1/requests/{id}", &format!("/api/v1/requests/{id}"), &owen),
        ("/api/v1/assets/{name}/requests", "/api/v1/assets/heart/requests", &owen),
        ("/api/v1/training/{user}", "/api/v1/training/rex", &dora),
        ("/api/v1/reports/access", "/api/v1/reports/access?from=2026-01-01&to=2027-12-31", &dora),
        ("/api/v1/reports/{report}", "/api/v1/reports/register", &dora),
    ] {
        let a = call(&app, "GET", path, Some(token), None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.json);
        check(&doc, "get", pattern, &a);
    }
    // Lists come a page at a time, newest first, with a Link to the next page.
    let ask =
        json!({"kind": "add", "user_id": "rex", "role": "researcher", "ends": "2027-06-30", "justification": "paging"});
    let second = call(&app, "POST", "/api/v1/assets/heart/requests", Some(&owen), Some(ask)).await;
    assert_eq!(second.status, 201, "{}", second.json);
    let newest = call(&app, "GET", "/api/v1/requests?asset=heart&limit=1", Some(&dora), None).await;
    check(&doc, "get", "/api/v1/requests", &newest);
    assert_eq!(newest.json[0]["id"], second.json["id"], "{}", newest.json);
    let link = newest.headers.get(header::LINK).expect("a Link to the next page").to_str().unwrap().to_string();
    let next = link.strip_prefix('<').and_then(|l| l.strip_suffix(">; rel=\"next\"")).unwrap();
    assert_eq!(next, format!("/api/v1/requests?asset=heart&limit=1&before={}", second.json["id"]));
    let older = call(&app, "GET", next, Some(&dora), None).await;
    assert_eq!(older.json.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>(), [id]);
    assert!(older.headers.get(header::LINK).is_none(), "the last page has no next");
    for bad in ["limit=0", "limit=1001", "before=0", "page=2", "limit=ten"] {
        let a = call(&app, "GET", &format!("/api/v1/me/requests?{bad}"), Some(&owen), None).await;
        assert_eq!(a.status, 422, "{bad}: {}", a.json);
    }
    let view = call(&app, "GET", "/api/v1/assets/heart", Some(&owen), None).await;
    assert!(view.json["members"].as_array().unwrap().iter().any(|m| m["user_id"] == "nina"), "{}", view.json);

    // The IAO's changes: an IAA, a compliance item, the review; then closing.
    let iaa = call(&app, "PUT", "/api/v1/assets/heart/iaas/rex", Some(&owen), None).await;
    assert_eq!((iaa.status, iaa.json["changed"].as_bool()), (200, Some(true)), "{}", iaa.json);
    check(&doc, "put", "/api/v1/assets/{name}/iaas/{user}", &iaa);
    let item = json!({"reference": "REC 26/NW/0001", "expires": "2027-12-31"});
    let ethics = call(&app, "PUT", "/api/v1/assets/heart/compliance/ethics", Some(&owen), Some(item)).await;
    assert_eq!(ethics.status, 200, "{}", ethics.json);
    check(&doc, "put", "/api/v1/assets/{name}/compliance/{kind}", &ethics);
    let reviewed =
        call(&app, "POST", "/api/v1/assets/heart/review", Some(&owen), Some(json!({"confirm": ["nina"]}))).await;
    assert_eq!(reviewed.status, 200, "{}", reviewed.json);
    check(&doc, "post", "/api/v1/assets/{name}/review", &reviewed);
    let removed = call(&app, "DELETE", "/api/v1/assets/heart/iaas/rex", Some(&owen), None).await;
    assert_eq!((removed.status, removed.json["iaa"].as_bool()), (200, Some(false)), "{}", removed.json);
    let wrong = json!({"closure": "archive", "reason": "study over", "confirm": "lung"});
    let refused = call(&app, "POST", "/api/v1/assets/heart/close", Some(&owen), Some(wrong)).await;
    assert_eq!(refused.status, 422, "{}", refused.json);
    assert!(refused.json["error"]["message"].as_str().unwrap().contains("heart"), "{}", refused.json);
    let close = json!({"closure": "archive", "reason": "study over", "confirm": "heart"});
    let closed = call(&app, "POST", "/api/v1/assets/heart/close", Some(&owen), Some(close)).await;
    assert_eq!((closed.status, closed.json["memberships_ended"].as_i64()), (200, Some(1)), "{}", closed.json);
    check(&doc, "post", "/api/v1/assets/{name}/close", &closed);

    // Every change was audited in the token owner's name.
    let trail = actions(&app).await;
    for a in
        ["api_token.created", "asset.created", "access_request.submitted", "access_request.approved", "asset.closed"]
    {
        assert!(trail.iter().any(|t| t == a), "{a} in {trail:?}");
    }
}

async fn tokens_scopes_and_bad_input(db: TestDb) {
    let app = App::builder().db(db).build().await;
    let mut dora_b = person(&app, "dora", &[Role::Admin]).await;
    let mut rex_b = person(&app, "rex", &[]).await;
    let read = token_for(&mut dora_b, false).await;
    let write = token_for(&mut dora_b, true).await;
    let rex = token_for(&mut rex_b, true).await;

    // No token, a malformed one, an unknown one: 401 with a Bearer challenge, audited.
    let none = call(&app, "GET", "/api/v1/me", None, None).await;
    assert_eq!(none.status, 401);
    assert!(none.headers[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
    assert!(none.json["error"]["message"].as_str().unwrap().contains("/security/api-tokens"), "{}", none.json);
    for bad in ["nonsense", "haven_api_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let a = call(&app, "GET", "/api/v1/me", Some(bad), None).await;
        assert_eq!((a.status, a.json["error"]["code"].as_str()), (401, Some("invalid_token")), "{}", a.json);
    }
    assert_eq!(actions(&app).await.iter().filter(|a| *a == "api_token.refused").count(), 2);
    // A session cookie is no API credential (the API carries no ambient authority).
    let r = Request::get("/api/v1/me")
        .header(header::HOST, "haven.example")
        .header(header::COOKIE, dora_b.cookie_header())
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, r).await.status, 401);

    // A read token reads but changes nothing; a plain researcher's write token decides nothing.
    assert_eq!(call(&app, "GET", "/api/v1/assets", Some(&read), None).await.status, 200);
    let asset = json!({"name": "heart", "iao": "dora", "ig_ref": "IG/00001", "classification": "identifiable"});
    let refused = call(&app, "POST", "/api/v1/assets", Some(&read), Some(asset.clone())).await;
    assert_eq!((refused.status, refused.json["error"]["code"].as_str()), (403, Some("forbidden")), "{}", refused.json);
    assert_eq!(call(&app, "POST", "/api/v1/assets", Some(&rex), Some(asset.clone())).await.status, 403);
    assert_eq!(call(&app, "GET", "/api/v1/assets", Some(&rex), None).await.status, 403);

    // Bad bodies: what was wrong, and nothing written.
    let before = call(&app, "GET", "/api/v1/assets", Some(&read), None).await.json;
    let unknown = json!({"name": "heart", "iao": "dora", "ig_ref": "IG/00001", "classification": "identifiable", "colour": "red"});
    let a = call(&app, "POST", "/api/v1/assets", Some(&write), Some(unknown)).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert!(a.json["error"]["message"].as_str().unwrap().contains("colour"), "{}", a.json);
    let classification = json!({"name": "heart", "iao": "dora", "ig_ref": "IG/00001", "classification": "secret"});
    let a = call(&app, "POST", "/api/v1/assets", Some(&write), Some(classification)).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert!(a.json["error"]["message"].as_str().unwrap().contains("pseudonymised"), "{}", a.json);
    let r = Request::post("/api/v1/assets")
        .header(header::HOST, "haven.example")
        .header(header::AUTHORIZATION, format!("Bearer {write}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    assert_eq!(send(&app, r).await.status, 400);
    let r = Request::post("/api/v1/assets")
        .header(header::HOST, "haven.example")
        .header(header::AUTHORIZATION, format!("Bearer {write}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(asset.to_string()))
        .unwrap();
    let a = send(&app, r).await;
    assert_eq!(a.status, 415, "{}", a.json);
    assert!(a.json["error"]["message"].as_str().unwrap().contains("application/json"), "{}", a.json);
    let missing = call(&app, "GET", "/api/v1/reports/access?from=2026-01-01", Some(&read), None).await;
    assert_eq!(missing.status, 422);
    assert!(missing.json["error"]["message"].as_str().unwrap().contains("to"), "{}", missing.json);
    let r = Request::post("/api/v1/training/import")
        .header(header::HOST, "haven.example")
        .header(header::AUTHORIZATION, format!("Bearer {write}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(format!("user_id,course,completed\nrex,{COURSE},2025-12-02\nrex,{COURSE},yesterday\n")))
        .unwrap();
    let a = send(&app, r).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert!(a.json["error"]["message"].as_str().unwrap().contains("line 3"), "{}", a.json);
    assert_eq!(call(&app, "GET", "/api/v1/assets", Some(&read), None).await.json, before);
    let training = call(&app, "GET", "/api/v1/training/rex", Some(&read), None).await;
    assert_eq!(training.json["records"], json!([]), "nothing from the bad file: {}", training.json);

    // Only the desk's write tokens make Haven read a training file: a read token is refused
    // before the body is taken. The scheme is case-insensitive.
    let r = Request::post("/api/v1/training/import")
        .header(header::HOST, "haven.example")
        .header(header::AUTHORIZATION, format!("bearer {read}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(format!("user_id,course,completed\nrex,{COURSE},2025-12-02\n")))
        .unwrap();
    assert_eq!(send(&app, r).await.status, 403);

    // Revoked, expired, or the account disabled: refused at once.
    let page = dora_b.get("/security/api-tokens").await;
    let row = page.body.split("<tr>").find(|r| r.contains("<td>read</td>")).unwrap();
    let handle_at = row.find("name=\"token\" value=\"").unwrap() + 20;
    let handle: String = row[handle_at..].chars().take(12).collect();
    let revoked = dora_b.post("/security/api-tokens/revoke", &[("token", &handle)]).await;
    assert_eq!(revoked.location, "/security/api-tokens?done=revoked", "{}", revoked.body);
    assert_eq!(
        call(&app, "GET", "/api/v1/me", Some(&read), None).await.status,
        401,
        "the first (read) token is revoked"
    );
    assert_eq!(call(&app, "GET", "/api/v1/me", Some(&write), None).await.status, 200);
    app.state.identity.set_account_status(&Caller::console(), "rex", AccountStatus::Disabled).await.unwrap();
    assert_eq!(call(&app, "GET", "/api/v1/me", Some(&rex), None).await.status, 401, "a disabled account's token stops");
    // Signing out one's other sessions (a clean-up after a compromise) revokes API tokens too.
    let page = dora_b.post("/security/sessions", &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(call(&app, "GET", "/api/v1/me", Some(&write), None).await.status, 401);
    // The service desk sees a person's tokens (never a secret) and can revoke them all.
    let fresh = token_for(&mut dora_b, true).await;
    assert_eq!(call(&app, "GET", "/api/v1/me", Some(&fresh), None).await.status, 200);
    let desk = app.state.identity.account_view(&Caller::console(), "dora").await.unwrap();
    assert_eq!(desk.personal_tokens.iter().filter(|t| t.scope.is_api()).count(), 1, "{:?}", desk.personal_tokens);
    assert_eq!(app.state.identity.revoke_personal_tokens(&Caller::console(), "dora").await.unwrap(), 1);
    assert_eq!(call(&app, "GET", "/api/v1/me", Some(&fresh), None).await.status, 401, "revoked by the desk");
    let fresh = token_for(&mut dora_b, true).await;
    assert_eq!(call(&app, "GET", "/api/v1/me", Some(&fresh), None).await.status, 200);
    app.clock.advance(time::Duration::days(31));
    assert_eq!(call(&app, "GET", "/api/v1/me", Some(&fresh), None).await.status, 401, "write tokens last 30 days");
    let trail = actions(&app).await;
    assert!(trail.iter().any(|a| a == "api_token.revoked"), "{trail:?}");
    assert!(trail.iter().any(|a| a == "personal_tokens.revoked_by_service_desk"), "{trail:?}");
}
