//! The Governance portal through the real router, in process, on SQLite and PostgreSQL with the
//! fake clock: the desk registers an asset and records training (one and by CSV), the IAO
//! nominates an IAA, the IAA asks for a new person, the desk approves and the onboarding email
//! goes out; the Acceptable Use Statement at first sign-in; a plain member is refused; the
//! review and the access report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use axum::body::Body;
use axum::http::{Request, header};
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_testkit::db::TestDb;

mod common;

use common::TestApp as App;
use common::browser::{Browser, Page, person};

haven_testkit::contract!(a_request_goes_from_the_iaa_to_the_desk_to_a_new_account, bad_input_changes_nothing);

const COURSE: &str = "data-security-awareness";

async fn upload(b: &mut Browser<'_>, path: &str, file: impl AsRef<[u8]>) -> Page {
    let csrf = b.cookies.get("__Host-haven-csrf").cloned().unwrap_or_default();
    let boundary = "XhavenX";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file.as_ref());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = Request::post(format!("{path}?csrf_token={csrf}"))
        .header(header::HOST, "haven.example")
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .header(header::COOKIE, b.cookie_header());
    b.send(r.body(Body::from(body)).unwrap()).await
}

async fn a_request_goes_from_the_iaa_to_the_desk_to_a_new_account(db: TestDb) {
    let app = App::builder().db(db).build().await;
    let mut dora = person(&app, "dora", &[Role::Admin]).await;
    let mut owen = person(&app, "owen", &[Role::Staff]).await;
    let mut ian = person(&app, "ian", &[]).await;

    // The desk registers the asset, with the IAO; its page opens for the desk.
    let made = dora
        .post(
            "/governance/register",
            &[("name", "heart"), ("iao", "owen"), ("ig_ref", "IG/00001"), ("classification", "identifiable")],
        )
        .await;
    assert_eq!(made.location, "/governance/assets/heart?done=asset", "{}", made.body);
    let register = dora.get("/governance/register").await;
    assert!(register.body.contains("IG/00001") && register.body.contains("owen"), "{}", register.body);

    // Training: one record by the form, one by CSV.
    let recorded =
        dora.post("/governance/ig", &[("user_id", "owen"), ("course", COURSE), ("completed", "2025-12-01")]).await;
    assert_eq!(recorded.location, "/governance/ig?user=owen&done=training", "{}", recorded.body);
    let shown = dora.get(&recorded.location).await;
    assert!(shown.body.contains("2025-12-01") && shown.body.contains("2026-11-30"), "valid 12 months: {}", shown.body);
    let imported =
        upload(&mut dora, "/governance/ig/import", &format!("user_id,course,completed\nian,{COURSE},2025-12-02\n"))
            .await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert!(imported.body.contains("Imported 1 record(s) for 1 person(s)"), "{}", imported.body);

    // Without a standing in it, ian cannot open the asset yet; the IAO nominates him.
    assert_eq!(ian.get("/governance/assets/heart").await.status, 403);
    let mine = owen.get("/governance").await;
    assert!(mine.body.contains("Information Asset Owner") && mine.body.contains("/governance/assets/heart"));
    let nominated = owen.post("/governance/assets/heart/iaa", &[("user_id", "ian"), ("action", "add")]).await;
    assert_eq!(nominated.location, "/governance/assets/heart?done=admins", "{}", nominated.body);

    // The IAA asks for a new person.
    let form = ian.get("/governance/assets/heart/request").await;
    assert_eq!(form.status, 200);
    let asked = ian
        .post(
            "/governance/assets/heart/request",
            &[
                ("kind", "add"),
                ("email", "nina.new@example.org"),
                ("name", "Nina New"),
                ("organisation", "Cardiology"),
                ("role", "researcher"),
                ("ends", "2026-06-30"),
                ("justification", "analyses the outcomes"),
            ],
        )
        .await;
    assert_eq!(asked.location, "/governance/requests?done=requested", "{}", asked.body);
    let listed = ian.get(&asked.location).await;
    assert!(
        listed.body.contains("add nina.new to heart as researcher") && listed.body.contains("pending"),
        "{}",
        listed.body
    );
    let to_desk = app.mail.last_to("dora@example.org").unwrap();
    assert!(to_desk.text.contains("/governance/decisions/1"), "{}", to_desk.text);

    // The desk decides; the requester cannot.
    assert_eq!(ian.get("/governance/decisions/1").await.status, 403);
    let pending = dora.get("/governance/decisions").await;
    assert!(pending.body.contains("/governance/decisions/1"), "{}", pending.body);
    let no_reason = dora.post("/governance/decisions/1", &[("decision", "approve"), ("reason", "")]).await;
    assert_eq!(no_reason.status, 422);
    assert!(no_reason.body.contains("aria-invalid"), "the reason is marked: {}", no_reason.body);
    let approved =
        dora.post("/governance/decisions/1", &[("decision", "approve"), ("reason", "IG case covers her")]).await;
    assert_eq!(approved.location, "/governance/decisions?done=decided", "{}", approved.body);
    let welcome = app.mail.last_to("nina.new@example.org").unwrap();
    assert!(welcome.text.contains("/security/onboard?token="), "{}", welcome.text);
    assert!(!dora.get("/governance/decisions/1").await.body.contains("name=\"decision\""), "decided once");

    // The new member onboards and signs in: the asset is hers, but training is still missing.
    let view = owen.get("/governance/assets/heart").await;
    assert!(view.body.contains("nina.new") && view.body.contains("researcher"), "{}", view.body);
    let blocked = app
        .state
        .governance
        .reach(&haven_testkit::callers::signed_in("nina.new", &[Role::Researcher], 0), "heart")
        .await;
    assert!(matches!(blocked, Err(haven_core::CoreError::Conflict(_))), "{blocked:?}");

    // A plain member may not ask for anyone.
    let member = haven_testkit::callers::signed_in("nina.new", &[Role::Researcher], 0);
    assert!(app.state.governance.my_assets(&member).await.unwrap().iter().any(|m| m.asset.name == "heart"));
    let mut rita = person(&app, "rita", &[]).await;
    assert_eq!(rita.get("/governance/assets/heart/request").await.status, 403);
    let refused = rita
        .post(
            "/governance/assets/heart/request",
            &[
                ("kind", "add"),
                ("user_id", "dora"),
                ("role", "researcher"),
                ("ends", "2026-06-30"),
                ("justification", "x"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(rita.get("/governance/register").await.status, 403);

    // The review: the IAO confirms the member; the report shows the membership with its request.
    let review = owen.get("/governance/assets/heart/review").await;
    assert!(review.body.contains("name=\"m:nina.new\""), "{}", review.body);
    let saved = owen.post("/governance/assets/heart/review", &[("m:nina.new", "confirm")]).await;
    assert_eq!(saved.location, "/governance/assets/heart?done=review", "{}", saved.body);
    let report = dora.get("/governance/reports?from=2026-01-01&to=2026-12-31&asset=heart").await;
    assert!(report.body.contains("nina.new") && report.body.contains("#1"), "{}", report.body);
    let csv = dora.get("/governance/reports?from=2026-01-01&to=2026-12-31&asset=heart&format=csv").await;
    assert!(csv.body.starts_with("asset,user_id,role,from,until"), "{}", csv.body);
    assert!(csv.body.contains("heart,nina.new,researcher,2026-01-01"), "{}", csv.body);
    let register = dora.get("/governance/reports?report=register").await;
    assert!(register.body.contains("Register of information assets") && register.body.contains("shared=heart/shared/"));
    let training = dora.get("/governance/reports?report=training&format=csv").await;
    assert!(training.body.starts_with("asset,user_id,as,required,status,valid_until\n"), "{}", training.body);
    assert!(
        training.body.contains("heart,nina.new,researcher,data-security-awareness,not current"),
        "{}",
        training.body
    );
    assert_eq!(rita.get("/governance/reports?report=training").await.status, 403);
}

async fn bad_input_changes_nothing(db: TestDb) {
    let app = App::builder().db(db).build().await;
    let mut dora = person(&app, "dora", &[Role::Admin]).await;
    app.state.identity.add_account(&Caller::console(), "owen", "owen@example.org", false).await.unwrap();

    // The IAO must be staff; the IG reference must have its form; nothing is registered.
    let not_staff = dora
        .post(
            "/governance/register",
            &[("name", "heart"), ("iao", "owen"), ("ig_ref", "IG/00001"), ("classification", "identifiable")],
        )
        .await;
    assert_eq!(not_staff.status, 422, "{}", not_staff.body);
    assert!(not_staff.body.contains("staff"), "{}", not_staff.body);
    let bad_ref = dora
        .post(
            "/governance/register",
            &[("name", "heart"), ("iao", "owen"), ("ig_ref", "99"), ("classification", "anonymised")],
        )
        .await;
    assert_eq!(bad_ref.status, 422);
    assert!(bad_ref.body.contains("IG/#####"), "{}", bad_ref.body);
    assert!(bad_ref.body.contains("value=\"heart\""), "the form keeps what was typed");
    assert!(app.state.governance.register(&Caller::console()).await.unwrap().is_empty());
    assert_eq!(dora.get("/governance/assets/heart").await.status, 404);

    // A CSV with a bad row: its line is named and nothing is applied.
    let bad = upload(
        &mut dora,
        "/governance/ig/import",
        &format!("user_id,course,completed\nowen,{COURSE},2025-12-01\nowen,{COURSE},01/12/2025\n"),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("Line 3, completed"), "{}", bad.body);
    let wrong_columns = upload(&mut dora, "/governance/ig/import", "name,when\nowen,2025-12-01\n").await;
    assert_eq!(wrong_columns.status, 422);
    let latin1 = upload(
        &mut dora,
        "/governance/ig/import",
        b"user_id,course,completed\nowen,data-security-awareness,2025-12-01,caf\xe9\n",
    )
    .await;
    assert_eq!(latin1.status, 422);
    let view = app.state.governance.training_view(&Caller::console(), "owen").await.unwrap();
    assert!(view.records.is_empty(), "nothing applied: {view:?}");
    // Someone's own record is for another member of the desk to enter.
    let own =
        dora.post("/governance/ig", &[("user_id", "dora"), ("course", COURSE), ("completed", "2025-12-01")]).await;
    assert!(own.status == 403 || own.status == 422, "{}", own.status);
}
