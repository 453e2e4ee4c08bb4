//! Configuration: every flag can also be set through the environment variable beside it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_BIND",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: String,
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DATABASE`. Default: the SQLite file
    /// `healthapi.db` in the data dir.
    #[arg(
        long = "database-url",
        global = true,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url_arg: Option<String>,
    /// The database, as `resolve` settles it from `--database-url` and the data dir.
    #[arg(skip)]
    pub database_url: String,
    /// Where the default SQLite file, blobs and a generated audit key live.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_DATA_DIR",
        default_value = "data"
    )]
    pub data_dir: PathBuf,
    /// The audit chain's HMAC key; when unset, `<data dir>/audit.key` is used (and created).
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_AUDIT_KEY",
        hide_env_values = true
    )]
    pub audit_key: Option<String>,
    /// Email of the admin created on an empty database.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_ADMIN_EMAIL",
        default_value = "admin@healthapi.local"
    )]
    pub admin_email: String,
    /// Password of that admin; generated and printed once when unset.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// Lifetime of a bearer token.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_TOKEN_TTL_SECONDS",
        default_value_t = 3600
    )]
    pub token_ttl_seconds: i64,
    /// How long a break-glass grant lasts.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_BREAK_GLASS_SECONDS",
        default_value_t = 3600
    )]
    pub break_glass_seconds: i64,
    /// `text` or `json` (anything else is refused).
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_LOG_FORMAT",
        default_value = "text",
        value_parser = ["text", "json"]
    )]
    pub log_format: String,
    /// Database connections in the pool.
    #[arg(long, global = true, env = "HEALTHAPI_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, global = true, env = "HEALTHAPI_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Browser origins allowed to call the API (comma-separated); none by default.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_CORS_ORIGINS",
        default_value = ""
    )]
    pub cors_origins: String,
    /// How often the background sealer moves buffered and committed audit entries into the
    /// chain, in milliseconds. `GET /audit-logs` seals first whatever the interval.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_AUDIT_SEAL_INTERVAL_MS",
        default_value_t = 100
    )]
    pub audit_seal_interval_ms: u64,
    /// How often the indexer adds sealed entries to the audit trail's lookup by patient, in
    /// milliseconds. Queries by patient see every sealed entry whatever the interval (newer
    /// ones from the chain's tail); longer intervals index larger, cheaper batches.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_AUDIT_INDEX_INTERVAL_MS",
        default_value_t = 1000
    )]
    pub audit_index_interval_ms: u64,
    /// Seconds before a request is abandoned with 408.
    #[arg(
        long,
        global = true,
        env = "HEALTHAPI_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub request_timeout_seconds: u64,
    /// The join address of a video session's room at the operator's video service, with
    /// `{room}` where the room's name goes (e.g. `https://meet.jit.si/{room}`). Unset: video
    /// sessions have no `join_url`.
    #[arg(long, global = true, env = "HEALTHAPI_VIDEO_URL_TEMPLATE")]
    pub video_url_template: Option<String>,
    /// Where diagnostic images' bytes go: `s3://bucket/prefix` (credentials and endpoint from
    /// the `AWS_*` variables) or `file:///path`. Unset: the folder `blobs` under the data dir.
    #[arg(long, global = true, env = "HEALTHAPI_BLOB_URL")]
    pub blob_url: Option<String>,
    /// The largest diagnostic image, in bytes (413 above it).
    #[arg(long, global = true, env = "HEALTHAPI_MAX_IMAGE_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub max_image_bytes: u64,
    /// How new password hashes are made. No flag or variable sets it: a server started from
    /// the command line hashes at OWASP's parameters; only the test suite picks `Minimal`.
    #[arg(skip)]
    pub password_hash_cost: crate::auth::passwords::HashCost,
}

impl Config {
    /// Defaults for a given database, as if no flag or variable were set (used by tests).
    pub fn for_database(database_url: &str, data_dir: PathBuf) -> Config {
        let mut c = Cli::parse_from(["healthapi"]).config;
        c.database_url_arg = Some(database_url.to_string());
        c.data_dir = data_dir;
        c.resolve().expect("a test's database URL")
    }

    /// Settles what depends on more than one setting, and refuses what cannot work before
    /// anything is opened: the database is `--database-url`, else `healthapi.db` in the data
    /// dir; a URL naming a database this server does not speak (`mysql://…`) is an error, not
    /// a SQLite file named after it.
    pub fn resolve(mut self) -> Result<Config, String> {
        self.database_url = match self.database_url_arg.take() {
            Some(url) if !url.trim().is_empty() => url,
            _ => format!("sqlite://{}", self.data_dir.join("healthapi.db").display()),
        };
        crate::db::check_url(&self.database_url)?;
        self.database_url_arg = Some(self.database_url.clone());
        Ok(self)
    }
}

#[derive(Debug, Parser)]
#[command(name = "healthapi", version, about = "Health-data API server")]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Account administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Audit chain tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Load data from other systems.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Fill the database with a realistic demo data set and print the demo logins.
    Demo {
        /// Number of patients (doctors, appointments and records scale with it).
        #[arg(long, global = true, default_value_t = 1000)]
        patients: usize,
        /// Seed of the generator, for a repeatable data set.
        #[arg(long, global = true, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// FHIR R4 transaction or collection bundles: a file, or a folder of them (as Synthea
    /// writes them). Importing the same bundles again loads nothing twice.
    Fhir {
        /// A bundle's JSON file, or a folder searched for `*.json`.
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain; exit 1 naming the first bad entry.
    Verify {
        /// A checkpoint printed earlier by `audit checkpoint`.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print the chain head (sequence and hash) as JSON.
    Checkpoint,
    /// Add every sealed entry to the lookup by patient now (a running server does it every
    /// second; queries by patient see unindexed entries either way).
    Index,
}
