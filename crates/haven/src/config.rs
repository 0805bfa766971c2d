//! Configuration: defaults, then a TOML file (`--config`, `HAVEN_CONFIG`), then `HAVEN_*`
//! environment variables (`[packages.pypi] upstream` ↔ `HAVEN_PACKAGES__PYPI__UPSTREAM`), then
//! command-line flags. Secrets may be given as `<key>_file` (or `HAVEN_…_FILE`) naming a file
//! that holds them. Unknown keys and bad values are errors that name the key, where it came from,
//! and what is allowed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::datadir::DataDir;

/// Keys whose values are secrets: redacted when printed, and settable from a file.
pub const SECRET_KEYS: &[&str] =
    &["database.url", "blobs.s3.access_key_id", "blobs.s3.secret_access_key", "mail.smtp.password"];

/// Environment variables that start with `HAVEN_` but are not configuration keys (`haven upload`
/// reads HAVEN_TOKEN, HAVEN_URL and HAVEN_LINK).
const NOT_KEYS: &[&str] = &["HAVEN_CONFIG", "HAVEN_LOG_FORMAT", "HAVEN_TOKEN", "HAVEN_URL", "HAVEN_LINK"];
const NOT_KEY_PREFIXES: &[&str] = &["HAVEN_TEST_"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where Haven keeps its database, keys, certificates and blobs.
    pub data_dir: PathBuf,
    /// Address of the HTTPS listener.
    pub listen: SocketAddr,
    /// The URL people use to reach Haven; defaults to https://<first host name>:<port>.
    pub public_url: Option<String>,
    pub database: DatabaseConfig,
    pub blobs: BlobsConfig,
    pub keys: KeysConfig,
    pub tls: TlsConfig,
    pub http: HttpConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub audit: AuditConfig,
    /// Sign-in, tokens, ICE and the password policy.
    pub security: haven_core::identity::SecurityPolicy,
    pub mail: MailConfig,
    /// The curated package repository: upstreams and policy per ecosystem.
    pub packages: haven_core::packages::PackagesConfig,
    /// Information assets, IG training, the Acceptable Use Statement and access reviews.
    pub governance: haven_core::governance::GovernanceConfig,
    /// The File Transfer portal: upload limits and expiry.
    pub transfer: haven_core::transfer::uploads::TransferConfig,
    /// The drives under `<data_dir>/drives`: home (N:), shared (S:) and outputs quotas.
    pub drives: haven_core::workspaces::drives::DrivesConfig,
    /// Sessions: idle timeout, how many per person, and their limits.
    pub sessions: haven_core::workspaces::sessions::SessionsConfig,
    /// Batch jobs: how many run at once, and for how long at most.
    pub jobs: haven_core::workspaces::jobs::JobsConfig,
    /// Egress: the automated checks' thresholds.
    pub egress: haven_core::egress::EgressConfig,
    /// Several nodes on one database: this node's name and the background work's lease.
    pub cluster: ClusterConfig,
    /// Batch jobs on a Slurm cluster instead of on this node.
    pub slurm: SlurmConfig,
    /// Security alerts by email and webhook.
    pub alerts: haven_core::alerts::AlertsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmConfig {
    /// Submit batch jobs to Slurm (`sbatch`), in the same sandbox, instead of running them
    /// here. Sessions run on the node unless `terminals` or `applications`.
    pub enabled: bool,
    /// Where `sbatch`, `scancel` and `squeue` are.
    pub bin_dir: PathBuf,
    /// `SLURM_CONF` for them, if not the default.
    pub conf: Option<PathBuf>,
    /// The partition jobs go to; the cluster's default when unset.
    pub partition: Option<String>,
    /// Run terminal sessions on Slurm too (`srun --pty`): the session's shell runs in its
    /// sandbox on a compute node, its terminal relayed to the browser through this node.
    pub terminals: bool,
    /// Run web sessions (JupyterLab) and desktops on Slurm too (`srun --pty`): the application
    /// runs in its sandbox on a compute node, reached through Haven's bridge beside it (TLS to
    /// the certificate the bridge made, a secret per session). Haven's program must be at the
    /// same path on the compute nodes, and the data directory on storage they share.
    pub applications: bool,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            enabled: false,
            bin_dir: PathBuf::from("/usr/bin"),
            conf: None,
            partition: None,
            terminals: false,
            applications: false,
        }
    }
}

impl SlurmConfig {
    /// The cluster jobs go to, when enabled.
    pub fn cluster(&self) -> Option<haven_sandbox::slurm::Slurm> {
        // The bridge is this program; were it not found, applications would stay on the node.
        let bridge = std::env::current_exe().ok();
        // Were no key made (it cannot fail short of a broken build), bridges would accept nobody.
        let haven_key = match haven_web::reach::haven_key() {
            Ok(key) => key.fingerprint,
            Err(e) => {
                tracing::error!(error = %e, "no key for Haven's bridges: sessions on Slurm cannot be reached");
                [0; 32]
            }
        };
        self.enabled.then(|| haven_sandbox::slurm::Slurm {
            bin_dir: self.bin_dir.clone(),
            conf: self.conf.clone(),
            partition: self.partition.clone(),
            terminals: self.terminals,
            applications: self.applications && bridge.is_some(),
            bridge: bridge.unwrap_or_default(),
            haven_key,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's name, unique in the deployment (letters, digits, `.`, `_`, `-`): in the
    /// background lease's holder and in the records of the sessions and jobs it runs. Unset on
    /// a single node (sessions are then recorded as `local`).
    pub node: Option<String>,
    /// The host name or address the other nodes reach this one at (a request for a session
    /// goes to the node that runs it, on its own ports). Unset: the listen address, or the
    /// host's name when listening on every address.
    pub address: Option<String>,
    /// How long the background lease lasts without renewal (renewed every third of it): a
    /// node that dies hands its background work to another within about this long.
    pub lease_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { node: None, address: None, lease_secs: 30 }
    }
}

impl ClusterConfig {
    /// The name the background lease's holder carries: the node's, else the host's.
    pub fn holder_name(&self) -> String {
        self.node.clone().unwrap_or_else(host_name)
    }

    /// `https://HOST:PORT` at which the other nodes reach this node's listener on `listen`
    /// (bound to `port`).
    pub fn peer_url(&self, listen: SocketAddr, port: u16) -> String {
        let host = match &self.address {
            Some(a) => a.clone(),
            None if !listen.ip().is_unspecified() => listen.ip().to_string(),
            None => host_name(),
        };
        match host.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => format!("https://[{v6}]:{port}"),
            Err(_) => format!("https://{host}:{port}"),
        }
    }
}

fn host_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if host.is_empty() { "haven".to_string() } else { host.to_string() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Write each message as a `.eml` file to `outbox/` in the data directory (`haven mail list`).
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// The sender, e.g. `Haven <haven@example.org>`.
    pub from: String,
    pub smtp: SmtpConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: MailTransport::Outbox,
            from: "Haven <haven@localhost>".into(),
            smtp: SmtpConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this host.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A PEM file of CA certificates to trust for the SMTP server, besides the Mozilla roots (an
    /// internal mail relay's CA).
    pub ca_file: Option<PathBuf>,
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            ca_file: None,
            timeout_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`; default: SQLite in the data directory.
    pub url: Option<DbUrl>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsConfig {
    /// `file:///ABSOLUTE/PATH` or `s3://BUCKET/PREFIX`; default: `blobs/` in the data directory.
    pub url: Option<String>,
    pub s3: S3Config,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    /// Allow plain HTTP to the endpoint (for a storage server on the same host only).
    pub allow_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            region: "us-east-1".into(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// The master key file (32 bytes); default: `master.key` in the data directory.
    pub master_key_file: Option<PathBuf>,
    /// The audit trail's signing key (a 32-byte Ed25519 seed); default: `audit-signing.key` in
    /// the data directory. Every node of a deployment needs the same one.
    pub audit_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Names and addresses the internal CA's server certificate covers.
    #[serde(deserialize_with = "list_or_csv")]
    pub host_names: Vec<String>,
    /// A certificate chain (PEM) from your own CA; with `key_file`, replaces the internal CA's.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_cert_days: u32,
    pub renew_before_days: u32,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            host_names: vec!["localhost".into(), "127.0.0.1".into()],
            cert_file: None,
            key_file: None,
            server_cert_days: 90,
            renew_before_days: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace_secs: u64,
    /// Password hashes computed at once (argon2id, 19 MiB each); 0 = one per CPU core.
    pub hash_concurrency: usize,
    /// A connection must finish its TLS handshake, and each request head, within this; it is
    /// also how long an idle keep-alive connection stays open.
    pub header_read_timeout_secs: u64,
    /// Open connections one client address may hold (IPv6: one /64).
    pub max_connections_per_address: usize,
    /// Load balancers and reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For`
    /// names the client; nobody else's is believed.
    pub trusted_proxies: Vec<String>,
    /// Where web sessions (JupyterLab) are served: an origin of their own, so that what runs in
    /// a session cannot act as its user on Haven's pages. Unset: the main listener's address,
    /// port + 1 (a main port of 0 gives 0, any free port).
    pub sessions_listen: Option<SocketAddr>,
    /// Their public URL when Haven is behind a proxy: the same host as `public_url` (the sign-in
    /// cookie is the host's), another port. Unset: `public_url`'s host, the sessions port.
    pub sessions_url: Option<String>,
}

/// Clients arrive as IPv4 addresses (IPv4-mapped IPv6 is unwrapped): a range written in the
/// mapped form (`::ffff:10.0.0.0/104`) is taken as the IPv4 range it means.
fn ipv4_mapped_as_ipv4(net: ipnet::IpNet) -> ipnet::IpNet {
    match net {
        ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map(ipnet::IpNet::V4).unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

impl HttpConfig {
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map(ipv4_mapped_as_ipv4)
                    .map_err(|_| {
                        ConfigError(format!(
                            "key `http.trusted_proxies`: {p:?} is not an IP address or CIDR range (e.g. 10.0.0.5 or 10.0.0.0/24)"
                        ))
                    })
            })
            .collect()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 30,
            hash_concurrency: 0,
            header_read_timeout_secs: 15,
            max_connections_per_address: 256,
            trusted_proxies: Vec::new(),
            sessions_listen: None,
            sessions_url: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// The admin listener (HTTPS, same certificate) that serves `/metrics`. Keep it private.
    /// Unset: 127.0.0.1 on the main port + 1021 (8443 → 9464), so two Havens on one host with
    /// different main ports do not clash.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, listen: None }
    }
}

/// The host of an authority (`host`, `host:port`, `[v6]:port`).
fn host_of(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// How far above the main port the admin listener sits when `metrics.listen` is unset.
const ADMIN_PORT_OFFSET: u16 = 1021;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `haven=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often a signed checkpoint is written when new events have been appended.
    pub checkpoint_interval_secs: u64,
    /// A log host (`host:port`, syslog over TCP) each signed checkpoint is copied to.
    pub syslog: Option<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { checkpoint_interval_secs: 60, syslog: None }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./haven-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: None,
            database: DatabaseConfig::default(),
            blobs: BlobsConfig::default(),
            keys: KeysConfig::default(),
            tls: TlsConfig::default(),
            http: HttpConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            audit: AuditConfig::default(),
            security: haven_core::identity::SecurityPolicy::default(),
            mail: MailConfig::default(),
            packages: haven_core::packages::PackagesConfig::default(),
            governance: haven_core::governance::GovernanceConfig::default(),
            transfer: haven_core::transfer::uploads::TransferConfig::default(),
            drives: haven_core::workspaces::drives::DrivesConfig::default(),
            sessions: haven_core::workspaces::sessions::SessionsConfig::default(),
            jobs: haven_core::workspaces::jobs::JobsConfig::default(),
            egress: haven_core::egress::EgressConfig::default(),
            cluster: ClusterConfig::default(),
            slurm: SlurmConfig::default(),
            alerts: haven_core::alerts::AlertsConfig::default(),
        }
    }
}

/// A secret string: wiped on drop, `<redacted>` when printed or serialised.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// A database URL: its password is a secret, the rest is not.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DbUrl(Zeroizing<String>);

impl DbUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced by `<redacted>`.
    pub fn redacted(&self) -> String {
        let url = self.0.as_str();
        let Some(scheme_end) = url.find("://") else {
            return url.to_string();
        };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => match rest[..at].find(':') {
                Some(colon) => format!("{}://{}:<redacted>{}", &url[..scheme_end], &rest[..colon], &rest[at..]),
                None => url.to_string(),
            },
            None => url.to_string(),
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DbUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(l) => l,
        Either::Csv(s) => s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
    })
}

/// A configuration error, naming the key, where it came from and what is wrong.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Flags that override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

/// Load the effective configuration from `file`, `env` (the process environment, passed in for
/// testability) and `overrides`.
pub fn load(file: Option<&Path>, env: &[(String, String)], overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut table = toml::Table::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    let file_name = file.map(|f| f.display().to_string());
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the configuration file {}: {e}", path.display())))?;
        table = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError(format!("{}: not valid TOML: {}", path.display(), e.message())))?;
    }
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("HAVEN_") else {
            continue;
        };
        if NOT_KEYS.contains(&name.as_str()) || NOT_KEY_PREFIXES.iter().any(|p| name.starts_with(p)) || rest.is_empty()
        {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        origin.insert(path.join("."), format!("environment variable {name}"));
        set_path(&mut table, &path, env_value(raw))
            .map_err(|e| ConfigError(format!("environment variable {name}: {e}")))?;
    }
    resolve_secret_files(&mut table, &origin, file_name.as_deref())?;
    let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        let source = origin
            .get(&key)
            .cloned()
            .or_else(|| file_name.clone().map(|f| format!("configuration file {f}")))
            .unwrap_or_else(|| "the environment".into());
        let key = if key == "." { String::new() } else { format!(" key `{key}`") };
        ConfigError(format!("{source},{key}: {}", e.inner().message()))
    })?;
    if let Some(d) = &overrides.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(l) = overrides.listen {
        config.listen = l;
    }
    validate(&config)?;
    Ok(config)
}

/// An environment value: TOML if it parses as a TOML value (numbers, booleans, arrays), else text.
fn env_value(raw: &str) -> toml::Value {
    let parsed = format!("v = {raw}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v"));
    match parsed {
        Some(v) if !matches!(v, toml::Value::Table(_)) => v,
        _ => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut t = table;
    for p in parents {
        let entry = t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => return Err(format!("`{p}` is a value, not a section")),
        };
    }
    t.insert(last.clone(), value);
    Ok(())
}

fn take_path(table: &mut toml::Table, path: &[&str]) -> Option<toml::Value> {
    let (last, parents) = path.split_last()?;
    let mut t = table;
    for p in parents {
        t = t.get_mut(*p)?.as_table_mut()?;
    }
    t.remove(*last)
}

fn resolve_secret_files(
    table: &mut toml::Table,
    origin: &BTreeMap<String, String>,
    file: Option<&str>,
) -> Result<(), ConfigError> {
    for key in SECRET_KEYS {
        let file_key = format!("{key}_file");
        let path: Vec<&str> = file_key.split('.').collect();
        let Some(value) = take_path(table, &path) else {
            continue;
        };
        let source =
            origin.get(&file_key).cloned().unwrap_or_else(|| format!("configuration file {}", file.unwrap_or("?")));
        let toml::Value::String(secret_path) = value else {
            return Err(ConfigError(format!("{source}, key `{file_key}`: expected the path of a file")));
        };
        let secret = std::fs::read_to_string(&secret_path)
            .map_err(|e| ConfigError(format!("{source}, key `{file_key}`: cannot read {secret_path}: {e}")))?;
        let key_path: Vec<String> = key.split('.').map(str::to_string).collect();
        if take_path(table, &key.split('.').collect::<Vec<_>>()).is_some() {
            return Err(ConfigError(format!("{source}: set `{key}` or `{file_key}`, not both")));
        }
        set_path(table, &key_path, toml::Value::String(secret.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|e| ConfigError(format!("{source}: {e}")))?;
    }
    Ok(())
}

fn validate(c: &Config) -> Result<(), ConfigError> {
    let bad = |key: &str, msg: &str| Err(ConfigError(format!("key `{key}`: {msg}")));
    if let Some(url) = &c.database.url
        && haven_store::Dialect::from_url(url.expose()).is_err()
    {
        return bad("database.url", "must start with sqlite:// or postgres://");
    }
    if let Some(url) = &c.blobs.url
        && !(url.starts_with("file:///") || url.starts_with("s3://"))
    {
        return bad("blobs.url", "must be file:///ABSOLUTE/PATH or s3://BUCKET[/PREFIX]");
    }
    if let Some(url) = &c.public_url
        && (!url.starts_with("https://") || url.ends_with('/'))
    {
        return bad("public_url", "must start with https:// and have no trailing slash");
    }
    if let Some(node) = &c.cluster.node
        && (node.is_empty()
            || node.len() > 64
            || !node.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-')))
    {
        return bad("cluster.node", "must be 1 to 64 letters, digits, '.', '_' or '-'");
    }
    if let Some(address) = &c.cluster.address
        && (address.is_empty()
            || address.len() > 253
            || !(address.parse::<std::net::IpAddr>().is_ok()
                || address.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-'))))
    {
        return bad("cluster.address", "must be a host name or an IP address, without a scheme or port");
    }
    if let Some(host) = &c.audit.syslog
        && host.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        return bad("audit.syslog", "must be HOST:PORT (syslog over TCP)");
    }
    if let Err(e) = c.alerts.validate() {
        return Err(ConfigError(format!("key `alerts`: {e}")));
    }
    if c.slurm.enabled && !c.slurm.bin_dir.join("sbatch").exists() {
        return bad("slurm.bin_dir", "holds no sbatch: install Slurm's client commands, or name where they are");
    }
    let interactive = c.slurm.terminals || c.slurm.applications;
    if c.slurm.enabled && interactive && !c.slurm.bin_dir.join("srun").exists() {
        return bad(
            "slurm.bin_dir",
            "holds no srun, which slurm.terminals and slurm.applications need: install Slurm's client commands",
        );
    }
    if c.slurm.terminals && !c.slurm.enabled {
        return bad("slurm.terminals", "needs slurm.enabled = true");
    }
    if c.slurm.applications && !c.slurm.enabled {
        return bad("slurm.applications", "needs slurm.enabled = true");
    }
    if let Some(p) = &c.slurm.partition
        && (p.is_empty() || !p.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-')))
    {
        return bad("slurm.partition", "must be a partition's name (letters, digits, '_', '-')");
    }
    if !(6..=600).contains(&c.cluster.lease_secs) {
        return bad("cluster.lease_secs", "must be 6 to 600 seconds");
    }
    if c.tls.host_names.is_empty() {
        return bad("tls.host_names", "name at least one host name or address");
    }
    if c.tls.cert_file.is_some() != c.tls.key_file.is_some() {
        return bad("tls.cert_file", "set tls.cert_file and tls.key_file together");
    }
    if !(1..=397).contains(&c.tls.server_cert_days) || c.tls.renew_before_days >= c.tls.server_cert_days {
        return bad("tls.server_cert_days", "must be 1 to 397 days and more than tls.renew_before_days");
    }
    if let Some(url) = &c.http.sessions_url {
        let public = c.public_url.as_deref().unwrap_or_default();
        let same_host =
            |u: &str| u.split_once("://").map(|(_, r)| host_of(r.split('/').next().unwrap_or_default()).to_string());
        if !url.starts_with("https://")
            || (c.public_url.is_some() && same_host(url) != same_host(public))
            || url == public
        {
            return bad(
                "http.sessions_url",
                "must be an https:// URL on the same host as public_url with another port (the sign-in cookie belongs to the host)",
            );
        }
    }
    if c.http.max_body_bytes < 1024 {
        return bad("http.max_body_bytes", "must be at least 1024");
    }
    if c.http.request_timeout_secs == 0 || c.audit.checkpoint_interval_secs == 0 {
        return bad("http.request_timeout_secs", "timeouts and intervals must be at least 1 second");
    }
    if !(1..=300).contains(&c.http.header_read_timeout_secs) {
        return bad("http.header_read_timeout_secs", "must be 1 to 300 seconds");
    }
    if c.http.max_connections_per_address == 0 {
        return bad("http.max_connections_per_address", "must be at least 1");
    }
    c.http.trusted_proxy_nets()?;
    if let Err(why) = c.security.validate() {
        return Err(ConfigError(format!("key `{}`", why.replacen(' ', "`: ", 1))));
    }
    if let Err(why) = c.packages.validate() {
        return Err(ConfigError(why));
    }
    if let Err(why) = c.governance.validate() {
        return Err(ConfigError(why));
    }
    if let Err(why) = c.transfer.validate() {
        return Err(ConfigError(why));
    }
    if let Err(why) = c.drives.validate() {
        return Err(ConfigError(why));
    }
    if let Err(why) = c.sessions.validate() {
        return Err(ConfigError(why));
    }
    if let Err(why) = c.jobs.validate() {
        return Err(ConfigError(why));
    }
    if let Err(why) = c.egress.validate() {
        return Err(ConfigError(why));
    }
    if !c.transfer.clamd.is_empty()
        && let Err(why) = haven_store::clamd::ClamdAddress::parse(&c.transfer.clamd)
    {
        return bad("transfer.clamd", &why);
    }
    if !haven_store::mail::is_mailbox(&c.mail.from) {
        return bad("mail.from", "must be an address such as `Haven <haven@example.org>`");
    }
    if c.mail.transport == MailTransport::Smtp {
        if c.mail.smtp.host.is_empty() {
            return bad("mail.smtp.host", "name the SMTP server when mail.transport = \"smtp\"");
        }
        let local = matches!(c.mail.smtp.host.as_str(), "localhost" | "127.0.0.1" | "::1");
        if c.mail.smtp.tls == SmtpTls::None && !local {
            return bad(
                "mail.smtp.tls",
                "\"none\" would send links in clear text; use starttls or tls (none is for a relay on this host only)",
            );
        }
        if c.mail.smtp.password.is_some() != c.mail.smtp.username.is_some() {
            return bad("mail.smtp.username", "set mail.smtp.username and mail.smtp.password together");
        }
    }
    if tracing_subscriber::EnvFilter::try_new(&c.log.level).is_err() {
        return bad("log.level", "must be a level (error, warn, info, debug, trace) or a tracing filter");
    }
    Ok(())
}

impl Config {
    /// The paths in the data directory.
    pub fn data(&self) -> DataDir {
        DataDir::new(&self.data_dir)
    }

    /// The local session backend's name in records: `local@NODE` when named, or on PostgreSQL
    /// (where several nodes may share the records: the host's name then); `local` on a single
    /// SQLite node.
    pub fn sessions_backend(&self) -> String {
        match (&self.cluster.node, self.database_url().starts_with("sqlite:")) {
            (Some(n), _) => format!("local@{n}"),
            (None, false) => format!("local@{}", self.cluster.holder_name()),
            (None, true) => "local".to_string(),
        }
    }

    /// Where the drives (N:, S:, outputs) live: `drives.root`, else in the data directory.
    pub fn drives_dir(&self) -> std::path::PathBuf {
        self.drives.root.clone().unwrap_or_else(|| self.data().drives())
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(u) => u.expose().to_string(),
            None => format!("sqlite://{}", self.data().database().display()),
        }
    }

    pub fn public_url(&self, port: u16) -> String {
        self.public_url.clone().unwrap_or_else(|| {
            let host = self.tls.host_names.first().map(String::as_str).unwrap_or("localhost");
            let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
            format!("https://{host}:{port}")
        })
    }

    /// The web sessions' listener: `http.sessions_listen`, or the main one's address, port + 1.
    pub fn sessions_listen(&self) -> SocketAddr {
        self.http.sessions_listen.unwrap_or_else(|| {
            let port = match self.listen.port() {
                0 => 0,
                p => p.checked_add(1).unwrap_or(0),
            };
            SocketAddr::new(self.listen.ip(), port)
        })
    }

    /// The web sessions' origin: `http.sessions_url`, or the public URL's host on `port`.
    pub fn sessions_url(&self, public_url: &str, port: u16) -> String {
        if let Some(url) = &self.http.sessions_url {
            return url.trim_end_matches('/').to_string();
        }
        let (scheme, rest) = public_url.split_once("://").unwrap_or(("https", public_url));
        let authority = rest.split('/').next().unwrap_or_default();
        format!("{scheme}://{}:{port}", host_of(authority))
    }

    /// The admin listener's address: `metrics.listen`, or derived from the main listener's port
    /// (a main port of 0, "any free port", gives 0 too).
    pub fn metrics_listen(&self) -> SocketAddr {
        self.metrics.listen.unwrap_or_else(|| {
            let port = match self.listen.port() {
                0 => 0,
                p => p.checked_add(ADMIN_PORT_OFFSET).unwrap_or(0),
            };
            SocketAddr::from(([127, 0, 0, 1], port))
        })
    }

    /// The URL that links printed or emailed by console commands point at: `public_url` when set,
    /// else the URL the last `haven serve` on this data directory served at (it may have had
    /// `--listen` set on its command line, which this command does not see), else the one `serve`
    /// would use with this configuration.
    pub fn console_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        self.data().served_url().unwrap_or_else(|| self.public_url(self.listen.port()))
    }

    /// The effective configuration as TOML, defaults filled in and secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut effective = self.clone();
        effective.database.url.get_or_insert_with(|| DbUrl(Zeroizing::new(self.database_url())));
        effective.blobs.url.get_or_insert_with(|| format!("file://{}", self.data().blobs().display()));
        effective.keys.master_key_file.get_or_insert_with(|| self.data().master_key());
        effective.keys.audit_key_file.get_or_insert_with(|| self.data().audit_key());
        effective.public_url.get_or_insert_with(|| self.public_url(self.listen.port()));
        effective.metrics.listen.get_or_insert_with(|| self.metrics_listen());
        toml::to_string_pretty(&effective).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = load(None, &[], &Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.database_url(), "sqlite://./haven-data/haven.db");
        assert_eq!(c.public_url(8443), "https://localhost:8443");
        let printed = c.to_redacted_toml();
        assert!(printed.contains("url = \"sqlite://./haven-data/haven.db\""), "{printed}");
    }

    /// Two Havens with different main ports get different admin ports; console commands print
    /// links to where `serve` actually runs (it records its URL), not to the default port.
    #[test]
    fn admin_port_follows_the_main_port_and_console_links_follow_serve() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = load(None, &[], &Overrides::default()).unwrap();
        c.data_dir = dir.path().to_path_buf();
        assert_eq!(c.metrics_listen().to_string(), "127.0.0.1:9464");
        c.listen = "127.0.0.1:8500".parse().unwrap();
        assert_eq!(c.metrics_listen().to_string(), "127.0.0.1:9521");
        c.listen = "127.0.0.1:0".parse().unwrap();
        assert_eq!(c.metrics_listen().port(), 0);
        c.listen = "127.0.0.1:65000".parse().unwrap();
        assert_eq!(c.metrics_listen().port(), 0, "no port above 65535: any free one");
        c.metrics.listen = Some("127.0.0.1:7000".parse().unwrap());
        assert_eq!(c.metrics_listen().to_string(), "127.0.0.1:7000");

        c.listen = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(c.console_url(), "https://localhost:8443");
        crate::datadir::DataDir::new(dir.path()).record_served_url("https://localhost:40123").unwrap();
        assert_eq!(c.console_url(), "https://localhost:40123");
        c.public_url = Some("https://haven.example.org".into());
        assert_eq!(c.console_url(), "https://haven.example.org");
    }

    #[test]
    fn trusted_proxies_parse_addresses_ranges_and_mapped_forms() {
        let mut h = HttpConfig {
            trusted_proxies: vec!["10.0.0.5".into(), "::ffff:192.0.2.0/120".into(), "2001:db8::/64".into()],
            ..HttpConfig::default()
        };
        let nets = h.trusted_proxy_nets().unwrap();
        let has = |ip: &str| nets.iter().any(|n| n.contains(&ip.parse::<std::net::IpAddr>().unwrap()));
        assert!(has("10.0.0.5") && !has("10.0.0.6"));
        assert!(has("192.0.2.77"), "the mapped form means the IPv4 range");
        assert!(has("2001:db8::9"));
        h.trusted_proxies = vec!["proxy.example".into()];
        assert!(h.trusted_proxy_nets().unwrap_err().to_string().contains("http.trusted_proxies"));
    }

    #[test]
    fn environment_overrides_file_and_flags_override_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("haven.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n[http]\nmax_body_bytes = 2048\n").unwrap();
        let c = load(
            Some(&file),
            &env(&[
                ("HAVEN_HTTP__MAX_BODY_BYTES", "4096"),
                ("HAVEN_TLS__HOST_NAMES", "a.example, b.example"),
                ("HAVEN_TEST_X", "ignored"),
            ]),
            &Overrides { listen: Some("127.0.0.1:9001".parse().unwrap()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(c.http.max_body_bytes, 4096);
        assert_eq!(c.tls.host_names, ["a.example", "b.example"]);
        assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("haven.toml");
        std::fs::write(&file, "[tls]\nhost_nams = [\"x\"]\n").unwrap();
        let e = load(Some(&file), &[], &Overrides::default()).unwrap_err().0;
        assert!(e.contains("haven.toml") && e.contains("tls.host_nams") && e.contains("expected one of"), "{e}");

        let e = load(None, &env(&[("HAVEN_LISTN", "x")]), &Overrides::default()).unwrap_err().0;
        assert!(e.contains("HAVEN_LISTN") && e.contains("unknown field `listn`"), "{e}");

        let e = load(None, &env(&[("HAVEN_LISTEN", "nowhere")]), &Overrides::default()).unwrap_err().0;
        assert!(e.contains("HAVEN_LISTEN") && e.contains("listen"), "{e}");

        let e = load(None, &env(&[("HAVEN_DATABASE__URL", "mysql://x")]), &Overrides::default()).unwrap_err().0;
        assert!(e.contains("database.url"), "{e}");

        std::fs::write(&file, "listen = ").unwrap();
        let e = load(Some(&file), &[], &Overrides::default()).unwrap_err().0;
        assert!(e.contains("not valid TOML"), "{e}");
    }

    proptest::proptest! {
        /// Whatever an operator's file or environment holds, loading returns a value or an error
        /// that names its source: it never panics.
        #[test]
        fn arbitrary_files_and_environment_never_panic(text in "\\PC{0,200}", key in "[A-Z_]{1,20}", value in "\\PC{0,40}") {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("haven.toml");
            std::fs::write(&file, &text).unwrap();
            if let Err(e) = load(Some(&file), &[], &Overrides::default()) {
                proptest::prop_assert!(e.0.contains("haven.toml"), "{}", e.0);
            }
            let env = vec![(format!("HAVEN_{key}"), value)];
            if let Err(e) = load(None, &env, &Overrides::default()) {
                proptest::prop_assert!(e.0.contains(&format!("HAVEN_{key}")) || e.0.contains("key `"), "{}", e.0);
            }
        }
    }

    #[test]
    fn secrets_come_from_files_and_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("db-url");
        std::fs::write(&secret, "postgres://haven:hunter2hunter2@db/haven\n").unwrap();
        let c =
            load(None, &env(&[("HAVEN_DATABASE__URL_FILE", secret.to_str().unwrap())]), &Overrides::default()).unwrap();
        assert_eq!(c.database_url(), "postgres://haven:hunter2hunter2@db/haven");
        let printed = c.to_redacted_toml();
        assert!(!printed.contains("hunter2") && printed.contains("postgres://haven:<redacted>@db/haven"), "{printed}");
        assert!(!format!("{c:?}").contains("hunter2"));

        let both = load(
            None,
            &env(&[("HAVEN_DATABASE__URL_FILE", secret.to_str().unwrap()), ("HAVEN_DATABASE__URL", "sqlite://x")]),
            &Overrides::default(),
        );
        assert!(both.unwrap_err().0.contains("not both"));
    }
}
