//! `storagectl`: an operator's tool for libstorage recordings and state databases,
//! without a running context.
//!
//! It reads a recordings root the way the library writes it (manifests, chunk files, the
//! audit log) and changes nothing there but the upload marks `upload` writes in manifests;
//! `state inspect` reads a state database read-only.
//! Exit status: 0 all is well, 1 something checked is damaged (a verify or audit verdict,
//! a chunk that could not go up), 2 usage error, 3 the files could not be read, 4 the
//! bucket could not be reached or refused.

mod messages;
mod progress;
mod recordings;
mod state;
mod time;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Inspect, verify and replay libstorage recordings; inspect state databases.
#[derive(Parser)]
#[command(name = "storagectl", version, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_STATUS: &str = "Exit status: 0 all is well, 1 something checked is damaged, \
2 usage error, 3 the files could not be read, 4 the bucket could not be reached or refused.";

#[derive(Subcommand)]
enum Command {
    /// List the recordings under the root: name, mode, chunks, messages, time range, size.
    List {
        #[command(flatten)]
        root: Root,
        /// Print the listing as JSON (the document `storage_recordings_list` returns).
        #[arg(long)]
        json: bool,
    },
    /// Check recordings' chunk files, their SHA-256 and their hash chain (all when no name
    /// is given); exit status 1 when any is damaged.
    Verify {
        #[command(flatten)]
        root: Root,
        /// Recordings to check (default: every one under the root).
        names: Vec<String>,
        /// A chain head stored elsewhere (64 hex digits) that the recording's chain must
        /// contain; only with one recording.
        #[arg(long, value_name = "HEX")]
        anchor: Option<String>,
        /// Print one JSON verdict per line (the document `storage_recording_verify`
        /// returns).
        #[arg(long)]
        json: bool,
    },
    /// Show one recording: its manifest, chunks, chain head and per-channel statistics.
    Show {
        #[command(flatten)]
        root: Root,
        /// The recording.
        name: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a recording's messages as JSON lines, in time order.
    Messages {
        #[command(flatten)]
        root: Root,
        /// The recording.
        name: String,
        #[command(flatten)]
        filter: messages::Filter,
    },
    /// Print a recording's messages as JSON lines at their recorded pace.
    Replay {
        #[command(flatten)]
        root: Root,
        /// The recording.
        name: String,
        #[command(flatten)]
        filter: messages::Filter,
        /// Speed factor: 1 recorded pace, 2 twice as fast, 0 as fast as possible.
        #[arg(long, default_value_t = 1.0, value_parser = messages::parse_rate)]
        rate: f64,
    },
    /// Upload sealed recordings (all when none is named) to an S3-compatible bucket;
    /// exit status 1 when a chunk could not go (a corrupt file, a failed send).
    Upload(Remote),
    /// Reconcile recordings (all sealed ones when none is named) with the bucket: upload
    /// what it lacks or holds differently, mark what it has, download what the local copy
    /// lost; never deletes. Exit status 1 when a chunk is lost on both sides.
    Reconcile(Remote),
    /// Rebuild recordings this root lacks from the bucket alone (needs --origin).
    Restore {
        #[command(flatten)]
        root: Root,
        /// Recordings to restore.
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        target: upload::Target,
        /// Print one JSON report per recording.
        #[arg(long)]
        json: bool,
    },
    /// Print the audit log's records (supersessions, erasures) and check its hash chain;
    /// exit status 1 when the log was tampered with.
    Audit {
        #[command(flatten)]
        root: Root,
        /// Records of this recording only.
        #[arg(long)]
        recording: Option<String>,
        /// Records by this actor only.
        #[arg(long)]
        actor: Option<String>,
        /// Records at or after this time (RFC 3339, or Unix ns).
        #[arg(long, value_parser = time::parse_instant)]
        since: Option<u64>,
        /// Records at or before this time (RFC 3339, or Unix ns).
        #[arg(long, value_parser = time::parse_instant)]
        until: Option<u64>,
        /// An audit-log head stored elsewhere that the log must contain.
        #[arg(long, value_name = "HEX")]
        anchor: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Commands on a state database (the SQLite persistence backend's).
    #[command(subcommand)]
    State(StateCommand),
}

/// `storagectl state ...`.
#[derive(Subcommand)]
enum StateCommand {
    /// Show what a state database holds per channel, reading it read-only.
    ///
    /// Per channel: Lamport clock, history, outgoing (unacknowledged) and incoming
    /// (waiting for dependencies) buffers, repairs, met ids; the file is never created,
    /// migrated or written. Exit status 1 when a row is damaged, 3 when the file is
    /// missing or not a libstorage state database.
    Inspect {
        /// The database file (the context's `persistence.path`).
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// Show this channel only, with every buffered message.
        #[arg(long, value_name = "ID")]
        channel: Option<String>,
        /// Print as JSON (the totals are the whole database's, even with --channel).
        #[arg(long)]
        json: bool,
    },
}

/// The arguments of the commands on recordings and a bucket.
#[derive(Args)]
struct Remote {
    #[command(flatten)]
    root: Root,
    /// Recordings (default: every sealed one).
    names: Vec<String>,
    #[command(flatten)]
    target: upload::Target,
    /// Print one JSON report per recording.
    #[arg(long)]
    json: bool,
}

/// The recordings root, as the context's `recording.root` names it.
#[derive(Args)]
struct Root {
    /// The recordings root folder.
    #[arg(long, env = "STORAGE_RECORDINGS_ROOT", value_name = "DIR")]
    root: PathBuf,
}

/// How a command ends: its exit status and, for failures, what to tell the operator.
pub enum Outcome {
    /// All is well.
    Ok,
    /// Something checked is damaged (the details are in the output).
    Damaged,
    /// The files could not be read.
    Unreadable(String),
    /// The bucket could not be reached, or refused (credentials, no such bucket).
    Remote(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::List { root, json } => recordings::list(&root.store(), json),
        Command::Verify {
            root,
            names,
            anchor,
            json,
        } => recordings::verify(&root.store(), &names, anchor.as_deref(), json),
        Command::Show { root, name, json } => recordings::show(&root.store(), &name, json),
        Command::Messages { root, name, filter } => {
            messages::print(&root.store(), &name, &filter, 0.0)
        }
        Command::Replay {
            root,
            name,
            filter,
            rate,
        } => messages::print(&root.store(), &name, &filter, rate),
        Command::Upload(r) => upload::upload(&r.root.store(), &r.names, &r.target, r.json),
        Command::Reconcile(r) => upload::reconcile(&r.root.store(), &r.names, &r.target, r.json),
        Command::Restore {
            root,
            names,
            target,
            json,
        } => upload::restore(&root.store(), &names, &target, json),
        Command::Audit {
            root,
            recording,
            actor,
            since,
            until,
            anchor,
            json,
        } => {
            let query = storage::recording::AuditQuery {
                recording,
                actor,
                since_ns: since,
                until_ns: until,
                anchor,
            };
            recordings::audit(&root.store(), &query, json)
        }
        Command::State(StateCommand::Inspect { db, channel, json }) => {
            state::inspect(&db, channel.as_deref(), json)
        }
    };
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::Damaged => ExitCode::from(1),
        Outcome::Unreadable(why) => {
            eprintln!("storagectl: {why}");
            ExitCode::from(3)
        }
        Outcome::Remote(why) => {
            eprintln!("storagectl: {why}");
            ExitCode::from(4)
        }
    }
}

impl Root {
    fn store(&self) -> storage::recording::Store {
        storage::recording::Store::new(&self.root)
    }
}
