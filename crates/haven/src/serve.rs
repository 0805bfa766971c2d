//! `haven serve`: bind first (so a busy port changes nothing on disk), open everything, print how
//! to reach Haven, serve HTTPS until SIGINT/SIGTERM, then finish requests in flight and write a
//! final audit checkpoint.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use haven_core::accounts;
use haven_core::cluster::Lease;
use haven_store::Dialect;
use haven_web::WebConfig;
use tokio::sync::Notify;

use crate::app::{self, App, Mode};
use crate::background::Leases;
use crate::config::Config;
use crate::listener::{self, PerAddress};
use crate::tls;
use crate::wiring::Settings;

fn bind(addr: SocketAddr, what: &str, flag: &str) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow!(
            "cannot listen on {addr} for {what}: the port is already in use (is another Haven running?). Stop that program or choose another address with {flag}"
        ),
        std::io::ErrorKind::PermissionDenied => {
            anyhow!("cannot listen on {addr} for {what}: permission denied (ports below 1024 need privileges); choose another address with {flag}")
        }
        _ => anyhow!("cannot listen on {addr} for {what}: {e}"),
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

pub async fn run(config: Config) -> Result<()> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    crate::install_crypto_provider();

    let listener = bind(config.listen, "HTTPS", "--listen or HAVEN_LISTEN")?;
    let admin_listener = if config.metrics.enabled {
        Some(bind(config.metrics_listen(), "metrics (the admin listener)", "metrics.listen or HAVEN_METRICS__LISTEN")?)
    } else {
        None
    };
    let sessions_listener =
        bind(config.sessions_listen(), "web sessions", "http.sessions_listen or HAVEN_HTTP__SESSIONS_LISTEN")?;
    let port = listener.local_addr()?.port();
    let sessions_port = sessions_listener.local_addr()?.port();
    let admin_addr = admin_listener.as_ref().map(|l| l.local_addr()).transpose()?;

    let app = app::open(config, Mode::Create).await?;
    let _one_server = lock_data_dir(&app.config.data_dir)?;
    let public_url = app.config.public_url(port);
    let sessions_url = app.config.sessions_url(&public_url, sessions_port);
    app.config.data().record_served_url(&public_url)?;
    let mut adapters = app.adapters()?;
    let blobs = adapters.blobs.clone();
    let mailer = adapters.mailer.clone();
    let App { config, store, clock, rng, audit_key, keys, .. } = app;
    // This node's name first, before anything ends sessions or jobs recorded under it.
    let alone = store.dialect() == Dialect::Sqlite;
    let leases = Leases::claim(&config, store.clone(), clock.clone(), rng.as_ref(), alone).await?;

    let paths = tls::Paths::new(&config.data())?;
    let (cert_path, key_path) = tls::prepare(&paths, &config.tls, clock.now())?;
    let resolver = tls::Resolver::new(tls::load_certified_key(&cert_path, &key_path, &provider)?);
    let tls_config = RustlsConfig::from_config(Arc::new(tls::server_config(resolver.clone(), provider.clone())?));

    // Where the other nodes send requests for the sessions this node runs.
    let node = (!alone).then(|| haven_core::cluster::NodeRecord {
        name: config.sessions_backend().trim_start_matches("local@").to_string(),
        url: config.cluster.peer_url(config.listen, port),
        sessions_url: config.cluster.peer_url(config.sessions_listen(), sessions_port),
        cert_sha256: String::new(),
        updated_us: 0,
    });
    if let Some(node) = &node {
        publish_node(store.as_ref(), clock.as_ref(), node.clone(), &resolver).await?;
    }

    let ca_pem = if config.tls.cert_file.is_some() {
        None
    } else {
        Some(std::fs::read_to_string(&paths.ca_cert).context("read the CA certificate")?)
    };
    let local_sessions = Arc::new(haven_sandbox::local::LocalBackend::new(haven_sandbox::local::LocalConfig {
        name: config.sessions_backend(),
        tools: haven_sandbox::runner::Tools::find(std::path::Path::new("bwrap")).ok(),
        drives_root: config.drives_dir(),
        run_root: config.data().sessions(),
        repository: None,
        groups: session_groups(),
        slurm: config.slurm.cluster(),
    }));
    local_sessions.remove_leftovers();
    adapters.sessions = local_sessions.clone();
    let settings = Settings {
        public_url: public_url.clone(),
        policy: config.security.clone(),
        packages: config.packages.clone(),
        governance: config.governance.clone(),
        transfer: config.transfer.clone(),
        drives: config.drives.clone(),
        sessions: config.sessions.clone(),
        jobs: config.jobs.clone(),
        egress: config.egress.clone(),
        web: WebConfig {
            public_url: public_url.clone(),
            sessions_url: sessions_url.clone(),
            max_body_bytes: config.http.max_body_bytes,
            request_timeout: Duration::from_secs(config.http.request_timeout_secs),
            ca_pem: ca_pem.clone(),
            trusted_proxies: Arc::new(config.http.trusted_proxy_nets()?),
            forwarding_key: (!alone).then(|| Arc::new(keys.forwarding_key())),
        },
    };
    let state = adapters.state(settings).await?;
    let gate = crate::gate::RepositoryGate::new(
        Arc::new(tls::server_config(resolver.clone(), provider.clone())?),
        state.clone(),
    );
    local_sessions.set_repository(repository(&public_url, Arc::new(gate), ca_pem.clone())?);
    let lost = state.sessions.recover().await?;
    if lost > 0 {
        tracing::warn!(sessions = lost, "sessions that ran when Haven last stopped were recorded as ended");
    }
    let lost = state.sessions.recover_jobs().await?;
    if lost > 0 {
        tracing::warn!(jobs = lost, "batch jobs that ran when Haven last stopped were recorded as failed");
    }
    local_sessions.cancel_slurm_leftovers().await;
    let governance = state.governance.clone();
    let added = state.packages.bootstrap_allowlist().await?;
    if added > 0 {
        tracing::info!(
            rules = added,
            "added the bootstrap allowlist of the package repository (haven packages policy)"
        );
    }

    let handle: Handle<SocketAddr> = Handle::new();
    let app_service = haven_web::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let limits = listener::Limits {
        header_read_timeout: Duration::from_secs(config.http.header_read_timeout_secs),
        max_connections_per_address: config.http.max_connections_per_address,
    };
    let per_address = PerAddress::new(limits.max_connections_per_address, config.http.trusted_proxy_nets()?);
    let server = listener::https_server(listener, &tls_config, limits, &per_address)?;
    let server = tokio::spawn(server.handle(handle.clone()).serve(app_service));
    // Web sessions on an origin of their own (what runs in one is the session's, not Haven's).
    let sessions_service =
        haven_web::sessions_router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let sessions_server = listener::https_server(sessions_listener, &tls_config, limits, &per_address)?;
    let sessions_server = tokio::spawn(sessions_server.handle(handle.clone()).serve(sessions_service));
    let admin = match admin_listener {
        Some(l) => {
            let service = haven_web::admin_router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
            let server = listener::https_server(l, &tls_config, limits, &per_address)?;
            Some(tokio::spawn(server.handle(handle.clone()).serve(service)))
        }
        None => None,
    };

    let lease = leases.work.clone();
    // Registered before the banner: a stop asked for as soon as Haven says it runs is a clean one.
    let stop = Stop::register()?;
    let ca_note = match &ca_pem {
        None => format!("TLS certificate: {}", cert_path.display()),
        Some(ca_pem) => format!(
            "Internal CA certificate: {} (also at {public_url}{})\n  SHA-256 fingerprint: {}",
            paths.ca_cert.display(),
            haven_core::paths::CA_PEM,
            tls::fingerprint(ca_pem)?
        ),
    };
    println!("Haven is running at {public_url}");
    println!("  {ca_note}");
    println!("  Data directory: {}", config.data_dir.display());
    println!("  Web sessions (JupyterLab) at {sessions_url}");
    if let Some(addr) = admin_addr {
        println!("  Metrics (admin listener): https://{addr}{}", haven_core::paths::METRICS);
    }
    // One link at a time: each start would replace the last (several nodes starting together).
    if !lease.held() {
        if !accounts::admin_exists(store.as_ref()).await? {
            println!();
            println!("No administrator exists yet: the node doing the background work printed the bootstrap link.");
            println!("(Run `haven admin bootstrap-link` for a new one.)");
        }
    } else if let Some(secret) = accounts::issue_bootstrap_link(store.as_ref(), clock.as_ref(), rng.as_ref()).await? {
        println!();
        println!("No administrator exists yet. Open this one-time link within 1 hour to create the first one:");
        println!("  {public_url}{}", haven_core::paths::bootstrap_with(secret.as_str()));
        println!("(It works once. Run `haven admin bootstrap-link` for a new one.)");
    }
    println!("Press Ctrl-C to stop.");

    if config.transfer.clamd.is_empty() {
        tracing::warn!(
            "no malware scanner: arrivals stay \"scan pending\" and cannot be accepted until transfer.clamd names clamd"
        );
    }
    let keeper = leases.spawn();
    let scans = spawn_transfer_worker(state.transfer.clone(), lease.clone(), leases.taken.clone());
    let sweeps = spawn_blob_sweeper(store.clone(), blobs, clock.clone(), lease.clone(), leases.taken.clone());
    let alerts = spawn_alerts(alerts(&config, store.clone(), mailer, &public_url)?, lease.clone());
    let session_watch = tokio::spawn(state.sessions.clone().watch());
    let session_sweeps =
        spawn_session_sweeper(state.sessions.clone(), store.clone(), clock.clone(), (!alone).then(|| lease.clone()));
    let job_runner = spawn_job_runner(state.sessions.clone());
    let workers = spawn_workers(
        &config,
        &paths,
        store.clone(),
        clock.clone(),
        audit_key.clone(),
        resolver,
        provider.clone(),
        node,
        governance,
        lease.clone(),
        leases.taken.clone(),
    );

    stop.wait().await;
    tracing::info!("shutting down: finishing requests in flight");
    handle.graceful_shutdown(Some(Duration::from_secs(config.http.shutdown_grace_secs)));
    let _ = server.await;
    let _ = sessions_server.await;
    if let Some(a) = admin {
        let _ = a.await;
    }
    workers.abort();
    scans.abort();
    sweeps.abort();
    alerts.abort();
    keeper.abort();
    session_sweeps.abort();
    job_runner.abort();
    match state.sessions.shutdown_jobs().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "stopped the batch jobs running here"),
        Err(e) => tracing::warn!(error = %e, "the jobs' ends could not all be recorded; the next start does"),
    }
    match state.sessions.shutdown().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "stopped the sessions running here"),
        Err(e) => tracing::warn!(error = %e, "the sessions' ends could not all be recorded; the next start does"),
    }
    session_watch.abort();
    // Handed over at once rather than when its time runs out, once this node's own are ended.
    leases.release().await;
    if let Ok(Some(seq)) = haven_core::audit::write_checkpoint(store.as_ref(), audit_key, clock.now()).await {
        tracing::info!(seq, "wrote a final audit checkpoint");
    }
    store.close().await;
    println!("Haven stopped.");
    Ok(())
}

/// Periodic work: hourly certificate renewal (this node's own certificate), and, on the node
/// holding the background lease, audit checkpoints, pruning and the governance lifecycle jobs.
#[allow(clippy::too_many_arguments)]
fn spawn_workers(
    config: &Config,
    paths: &tls::Paths,
    store: Arc<haven_store::SqlStore>,
    clock: Arc<dyn haven_core::Clock>,
    audit_key: Arc<haven_crypto::signing::SigningKey>,
    resolver: Arc<tls::Resolver>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    node: Option<haven_core::cluster::NodeRecord>,
    governance: Arc<haven_core::governance::Governance>,
    lease: Arc<Lease>,
    taken: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    let checkpoint_every = Duration::from_secs(config.audit.checkpoint_interval_secs);
    let syslog = config.audit.syslog.clone();
    let config_node = config.cluster.holder_name();
    let tls_cfg = config.tls.clone();
    let paths = paths.clone();
    tokio::spawn(async move {
        let mut checkpoints = tokio::time::interval(checkpoint_every);
        let mut renewals = tokio::time::interval(Duration::from_secs(3600));
        let mut unpublished = false;
        loop {
            tokio::select! {
                // Taken over from a node that died: its hourly work is due here now.
                _ = taken.notified() => renewals.reset_immediately(),
                _ = checkpoints.tick() => {
                    // A record of where this node answers that could not be written is tried
                    // again at once, not in an hour: the other nodes pin the certificate in it.
                    if unpublished
                        && let Some(node) = &node
                    {
                        unpublished = publish_node(store.as_ref(), clock.as_ref(), node.clone(), &resolver).await.is_err();
                    }
                    if !lease.held() {
                        continue;
                    }
                    match haven_core::audit::write_checkpoint_record(store.as_ref(), audit_key.clone(), clock.now()).await {
                        Ok(Some(c)) => {
                            tracing::debug!(seq = c.seq, "wrote an audit checkpoint");
                            if let Some(log_host) = &syslog {
                                let host = config_node.as_str();
                                if let Err(e) = crate::syslog::send(log_host, &c, &audit_key.public_key(), host).await {
                                    tracing::error!(seq = c.seq, error = %e, "could not copy an audit checkpoint to the log host; the next one covers it");
                                }
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::error!(error = %e, "could not write an audit checkpoint"),
                    }
                }
                _ = renewals.tick() => {
                    tls::renew(&paths, &tls_cfg, clock.now(), &resolver, &provider);
                    if let Some(node) = &node
                        && let Err(e) = publish_node(store.as_ref(), clock.as_ref(), node.clone(), &resolver).await
                    {
                        tracing::warn!(error = %e, "could not record where this node answers; trying again shortly");
                        unpublished = true;
                    }
                    if !lease.held() {
                        continue;
                    }
                    prune_attempts(store.as_ref(), clock.as_ref()).await;
                    match governance.run_lifecycle().await {
                        Ok(run) => tracing::info!(?run, "ran the governance lifecycle jobs"),
                        Err(e) => tracing::error!(error = %e, "the governance lifecycle jobs failed; they run again in an hour"),
                    }
                }
            }
        }
    })
}

/// Record where this node answers the others, with the certificate it serves now.
async fn publish_node(
    store: &dyn haven_core::Store,
    clock: &dyn haven_core::Clock,
    mut node: haven_core::cluster::NodeRecord,
    resolver: &tls::Resolver,
) -> anyhow::Result<()> {
    node.cert_sha256 = resolver.sha256().context("the server certificate could not be read")?;
    node.updated_us = haven_core::to_micros(clock.now());
    haven_core::cluster::publish_node(store, node).await?;
    Ok(())
}

/// File Transfer's own work, on the node holding the background lease: scan due arrivals every
/// few seconds (one at a time: clamd is the slowest stage), and hourly crypto-shred unfinished
/// uploads whose time ran out.
fn spawn_transfer_worker(
    transfer: Arc<haven_core::transfer::uploads::Transfer>,
    lease: Arc<Lease>,
    taken: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut scans = tokio::time::interval(Duration::from_secs(5));
        let mut sweeps = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = taken.notified() => sweeps.reset_immediately(),
                _ = scans.tick() => match if lease.held() { transfer.scan_due().await } else { Ok(0) } {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(arrivals = n, "scanned arrivals"),
                    Err(e) => tracing::error!(error = %e, "could not scan arrivals; trying again shortly"),
                },
                _ = sweeps.tick() => match if lease.held() { transfer.sweep_expired().await } else { Ok(0) } {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(uploads = n, "removed unfinished uploads that expired"),
                    Err(e) => tracing::error!(error = %e, "could not remove expired uploads; trying again in an hour"),
                },
            }
        }
    })
}

/// Daily (and at start): delete sealed objects that no record names, left by a crash or a
/// kill between writing a blob and recording it (`haven_core::blobs::sweep_unrecorded`).
/// One `haven serve` per data directory: a second would take the first's sessions for a dead
/// Haven's, end them and clear their run directories. Held until the server stops (the kernel
/// lets go if it dies).
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("serve.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(anyhow!(
            "another `haven serve` is running on the data directory {}; stop it first, or give this one another --data-dir",
            dir.display()
        )),
        Err(e) => Err(anyhow!("cannot lock {}: {e}", path.display())),
    }
}

/// How sessions reach the package repository: through `gate`, under the public URL's name; inside,
/// the public port when it is unprivileged (so the URL is the one people know), else 8443.
fn repository(
    public_url: &str,
    gate: Arc<dyn haven_sandbox::local::Gate>,
    ca_pem: Option<String>,
) -> anyhow::Result<haven_sandbox::local::Repository> {
    let authority = public_url.trim_start_matches("https://").split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => (h, p.parse::<u16>().unwrap_or(443)),
        _ => (authority, 443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    if host.is_empty() {
        anyhow::bail!("the public URL {public_url} names no host");
    }
    Ok(haven_sandbox::local::Repository { gate, host, port: if port >= 1024 { port } else { 8443 }, ca_pem })
}

/// Per-session control groups where this host has them for Haven (as root); sessions run on
/// rlimits alone otherwise, and the log says which.
fn session_groups() -> Option<haven_sandbox::cgroup::Groups> {
    if !haven_sandbox::runner::running_as_root() {
        return None;
    }
    match haven_sandbox::cgroup::Groups::on_this_host() {
        Ok(groups) => {
            tracing::info!(groups = %groups.describe(), "sessions get a memory and process limit each");
            Some(groups)
        }
        Err(why) => {
            tracing::warn!(%why, "no control groups for sessions: their limits are rlimits per process");
            None
        }
    }
}

/// Every 15 seconds: idle sessions stopped, ended ones whose processes still run here (stopped
/// from the console) killed, and those Haven lost (a restart) marked ended. With several nodes,
/// the background lease's holder also ends, every minute, the sessions and jobs of nodes that are
/// gone.
fn spawn_session_sweeper(
    sessions: Arc<haven_core::workspaces::sessions::Sessions>,
    store: Arc<haven_store::SqlStore>,
    clock: Arc<dyn haven_core::Clock>,
    lease: Option<Arc<Lease>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        let mut departed = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = sessions.sweep().await {
                        tracing::warn!(error = %e, "the session sweep failed; it runs again in 15 s");
                    }
                }
                _ = departed.tick(), if lease.is_some() => {
                    if !lease.as_ref().is_some_and(|l| l.held()) {
                        continue;
                    }
                    let now_us = haven_core::to_micros(clock.now());
                    let grace_us = 3 * i64::try_from(lease.as_ref().map(|l| l.time().as_micros()).unwrap_or(0)).unwrap_or(0);
                    let ended = match haven_core::cluster::live_nodes(store.as_ref(), now_us, grace_us).await {
                        Ok(live) => sessions.end_departed(&live).await,
                        Err(e) => Err(e),
                    };
                    match ended {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(records = n, "ended the sessions and jobs of nodes that are gone"),
                        Err(e) => tracing::warn!(error = %e, "could not end the sessions of nodes that are gone"),
                    }
                }
            }
        }
    })
}

/// Every 3 seconds: queued batch jobs started while fewer than `jobs.concurrent` run here, and
/// jobs cancelled from the console ended.
fn spawn_job_runner(sessions: Arc<haven_core::workspaces::sessions::Sessions>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3));
        loop {
            tick.tick().await;
            match sessions.run_jobs().await {
                Ok(runs) => {
                    for run in runs {
                        tokio::spawn(run);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "queued jobs could not be started; trying again in 3 s"),
            }
        }
    })
}

fn spawn_blob_sweeper(
    store: Arc<haven_store::SqlStore>,
    blobs: Arc<dyn haven_core::blobs::BlobStore>,
    clock: Arc<dyn haven_core::Clock>,
    lease: Arc<Lease>,
    taken: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut daily = tokio::time::interval(Duration::from_secs(24 * 3600));
        loop {
            tokio::select! {
                _ = taken.notified() => daily.reset_immediately(),
                _ = daily.tick() => {}
            }
            // Not the holder now: the holder's own daily run covers it.
            if !lease.held() {
                continue;
            }
            match haven_core::blobs::sweep_unrecorded(store.as_ref(), blobs.as_ref(), clock.as_ref(), None).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(objects = n, "deleted sealed objects that no record names"),
                Err(e) => tracing::error!(error = %e, "could not sweep unrecorded objects; trying again tomorrow"),
            }
        }
    })
}

/// The security alerts the configuration asks for: email to `alerts.email`, JSON to
/// `alerts.webhook_url`.
fn alerts(
    config: &Config,
    store: Arc<haven_store::SqlStore>,
    mailer: Arc<dyn haven_core::identity::ports::Mailer>,
    public_url: &str,
) -> Result<haven_core::alerts::Alerts> {
    use haven_core::alerts::{AlertSink, Alerts, MailSink};
    let a = &config.alerts;
    let mut sinks: Vec<Arc<dyn AlertSink>> = Vec::new();
    if !a.email.is_empty() {
        sinks.push(Arc::new(MailSink { mailer, to: a.email.clone() }));
    }
    if let Some(url) = &a.webhook_url {
        sinks.push(Arc::new(crate::webhook::WebhookSink::new(url)?));
    }
    if sinks.is_empty() {
        tracing::warn!("no security alerts: set alerts.email or alerts.webhook_url (docs/operations.md)");
    }
    Ok(Alerts::new(store, sinks, &a.actions, public_url))
}

/// Every 10 seconds, on the node holding the background lease: security events recorded since
/// the last round, forwarded.
fn spawn_alerts(alerts: haven_core::alerts::Alerts, lease: Arc<Lease>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            if !lease.held() {
                continue;
            }
            match alerts.forward().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(alerts = n, "sent security alerts"),
                Err(e) => tracing::error!(error = %e, "could not forward security alerts; trying again in 10 s"),
            }
        }
    })
}

/// Forget counted attempts (rate limits, lockouts, aggregated refusals) older than any window
/// that reads them, so the table stays small whatever clients send.
async fn prune_attempts(store: &haven_store::SqlStore, clock: &dyn haven_core::Clock) {
    let before = haven_core::to_micros(clock.now()) - 7 * 24 * 3600 * 1_000_000;
    let pruned = haven_core::transact(store, move |tx| Box::pin(async move { tx.prune_attempts(before).await })).await;
    match pruned {
        Ok(n) => tracing::debug!(rows = n, "pruned old attempt records"),
        Err(e) => tracing::error!(error = %e, "could not prune old attempt records"),
    }
}

/// SIGINT or SIGTERM, listened for from when it is made.
struct Stop {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Stop {
    fn register() -> Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
        let terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
        Ok(Stop { interrupt, terminate })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
