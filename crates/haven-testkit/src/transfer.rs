//! A world for the File Transfer tests: an asset, its IAO, an outsider, and their API tokens.

use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::governance::assets::NewAsset;
use haven_core::governance::records::{Classification, MemberRole, RequestKind};
use haven_core::governance::requests::NewRequest;

use std::sync::Arc;

use haven_core::transfer::scan::Scanner;
use haven_core::transfer::uploads::{Transfer, TransferConfig, TransferDeps};

use crate::app::{TestApp as App, TestAppBuilder};
use crate::callers::signed_in;

/// The course the IAO and members need (the default configuration's).
pub const COURSE: &str = "data-security-awareness";

/// heart: IAO owen (staff); rita a member of nothing. Both trained, the AUS accepted, each with
/// a read-write and a read-only API token.
pub struct World {
    pub app: App,
    pub owen: String,
    pub owen_read: String,
    pub rita: String,
}

/// The world, on the app `builder` makes (its database, limits, scanner).
pub async fn world_from(builder: TestAppBuilder) -> World {
    let app = builder.build().await;
    let console = Caller::console();
    let mut tokens = Vec::new();
    for user in ["owen", "rita"] {
        app.state.identity.add_account(&console, user, &format!("{user}@example.org"), false).await.unwrap();
        app.state.governance.record_training(&console, user, COURSE, "2025-12-01", "").await.unwrap();
    }
    app.state.identity.set_role(&console, "owen", Role::Staff, true).await.unwrap();
    let asset = NewAsset {
        name: "heart".into(),
        iao: "owen".into(),
        ig_ref: "IG/00001".into(),
        classification: Classification::Identifiable,
        description: String::new(),
        starts: String::new(),
        ends: String::new(),
    };
    app.state.governance.create_asset(&console, asset).await.unwrap();
    for (user, roles, write) in
        [("owen", vec![Role::Staff], true), ("owen", vec![Role::Staff], false), ("rita", vec![], true)]
    {
        let fresh = signed_in(user, &roles, app.state.governance.now_us());
        app.state.governance.accept_aus(&fresh).await.unwrap();
        let (secret, _) = app.state.identity.create_api_token(&fresh, "tus", write, None).await.unwrap();
        tokens.push(secret.to_string());
    }
    let rita = tokens.pop().unwrap();
    let owen_read = tokens.pop().unwrap();
    let owen = tokens.pop().unwrap();
    World { app, owen, owen_read, rita }
}

/// The File Transfer use cases as another node over the same database and blobs would have
/// them: nothing in memory from this one, and a scanner of its own.
pub fn another_node(app: &App, config: TransferConfig, scanner: Option<Arc<dyn Scanner>>) -> Transfer {
    Transfer::new(TransferDeps {
        governance: app.state.governance.clone(),
        store: app.store.clone(),
        blobs: app.blobs.clone(),
        clock: app.clock.clone(),
        rng: Arc::new(haven_crypto::SystemRng::new()),
        hasher: Arc::new(crate::hasher::CheapHasher),
        scanner,
        signer: app.signer.clone(),
        drives: app.drives.clone(),
        quotas: haven_core::workspaces::drives::DrivesConfig::default(),
        config,
    })
}

/// `user` made a member of heart (owen asks, the desk's dora approves), trained, the AUS
/// accepted.
pub async fn make_member(w: &World, user: &str) {
    let app = &w.app;
    let console = Caller::console();
    if app.state.identity.add_account(&console, "dora", "dora@example.org", false).await.is_ok() {
        app.state.identity.set_role(&console, "dora", Role::Admin, true).await.unwrap();
    }
    let now = app.state.governance.now_us();
    let ends = haven_core::governance::rules::show_date(now + 180 * 86_400 * 1_000_000);
    let ask = NewRequest {
        asset: "heart".into(),
        kind: Some(RequestKind::Add),
        user_id: user.into(),
        role: Some(MemberRole::Researcher),
        ends,
        justification: "analysis for the cardiac outcomes study".into(),
        ..NewRequest::default()
    };
    let owen = signed_in("owen", &[Role::Staff], now);
    let r = app.state.governance.submit_request(&owen, ask).await.unwrap();
    app.state.governance.decide(&signed_in("dora", &[Role::Admin], now), r.id, true, "ok").await.unwrap();
    app.state.governance.record_training(&console, user, COURSE, "2025-12-01", "").await.unwrap();
    app.state.governance.accept_aus(&signed_in(user, &[], now)).await.unwrap();
}
