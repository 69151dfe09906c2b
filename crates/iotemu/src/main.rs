//! `iotemu`: see `iotemu --help` and the README.

/// mimalloc rather than glibc's malloc: under a full broker and rules load, profiles showed a
/// third of iotemu's CPU in glibc's `_int_malloc`, `malloc_consolidate` and `_int_free`
/// (allocations made on the tokio workers and freed on the log threads). Built with
/// `no_thp` (workspace Cargo.toml): mimalloc otherwise asks for transparent huge pages, and
/// every fresh 2 MiB page is zeroed whole on first touch. Without them the resident size at
/// start is 22 MB instead of 39 MB and 161 MB instead of 191 MB with 18,000 idle connections;
/// a 10,000-connection storm's rate did not change (4 alternating runs each, within noise),
/// although the huge pages' zeroing had been 8-11% of its profile (`clear_page_erms`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::error::ErrorKind;
use clap::Parser;
use iotemu::cli::{
    CertsCommand, CheckEntriesArgs, Cli, Command, CreateDeviceArgs, LogsCommand, LoraCommand, ServeArgs,
};
use iotemu::config::Config;
use iotemu::App;
use iotemu_registry::ca::{write_private, CertAuthority};
use std::process::ExitCode;
use std::time::Duration;

/// Everything, connections and log flush included, stops within this after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(4500);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                _ => {
                    let text = e.to_string();
                    eprintln!("{}", text.lines().next().unwrap_or("error: invalid arguments"));
                    ExitCode::from(2)
                }
            };
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IOTEMU_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let (serve, print) = match cli.command {
        None => (cli.serve, false),
        Some(Command::Serve(args)) => (args, false),
        Some(Command::PrintConfig(args)) => (args, true),
        Some(Command::Certs(CertsCommand::CreateDevice(args))) => return report(create_device(&args)),
        Some(Command::Logs(LogsCommand::Tail(args))) => return iotemu::tail_cmd::run(&args),
        Some(Command::Wait(args)) => return iotemu::wait_cmd::run(&args),
        Some(Command::CheckEntries(args)) => return check_entries(&args),
        Some(Command::Lora(LoraCommand::Simulate(args))) => return iotemu::lora_cmd::run(&args),
    };
    let config = match serve.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if print {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let result = serve_until_signal(config);
    if let Err(e) = &result {
        // A bad seed entry is a usage error, as a bad flag is.
        if e.downcast_ref::<iotemu::seed::SeedError>().is_some() {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    }
    report(result)
}

fn report(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve_until_signal(config: Config) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // Handlers first: a script may send SIGTERM the moment it reads the listening line.
        let signals = ShutdownSignals::install()?;
        let running = App::start(config).await?;
        eprintln!("iotemu data directory: {}", running.data_dir.display());
        eprintln!("iotemu CA certificate: {}", running.ca_cert_path.display());
        eprintln!("iotemu server certificate: {}", running.server_cert_dir.join("server.pem").display());
        if let Some(seeded) = &running.seeded {
            eprintln!(
                "iotemu seed applied: {} requests, {} entries already there",
                seeded.created, seeded.existing
            );
        }
        eprintln!("{}", running.listening_line());
        signals.wait().await;
        running.shutdown(SHUTDOWN_GRACE).await;
        Ok(())
    })
}

/// SIGINT and SIGTERM, listened for from before the emulator starts.
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(ShutdownSignals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `iotemu check-entries` (the checks are `iotemu_logs::check`'s): exit code 0 when every entry
/// is valid, 1 on any problem, 2 when it cannot check (an unknown `--require`, an unreadable file).
fn check_entries(args: &CheckEntriesArgs) -> ExitCode {
    use iotemu_logs::check::Checker;
    let mut checker = match Checker::new(iotemu_logs::spec::Spec::aws(), &args.require) {
        Ok(checker) => checker,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for path in &args.files {
        let name = path.display().to_string();
        let result = if name == "-" {
            checker.check_reader(&name, std::io::stdin().lock())
        } else {
            std::fs::File::open(path)
                .and_then(|file| checker.check_reader(&name, std::io::BufReader::new(file)))
        };
        if let Err(e) = result {
            eprintln!("error: reading {name}: {e}");
            return ExitCode::from(2);
        }
    }
    let report = checker.finish();
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `iotemu certs create-device`: reads (or creates) the CA in the data directory, so it works
/// beside a server running on the same directory.
fn create_device(args: &CreateDeviceArgs) -> Result<()> {
    let serve =
        ServeArgs { account_id: args.account_id.clone(), region: args.region.clone(), ..Default::default() };
    let config = serve.resolve()?;
    let data_dir = args.data_dir.clone().unwrap_or(config.server.data_dir);
    anyhow::ensure!(
        !args.thing.is_empty() && !args.thing.contains(['/', '\\']),
        "invalid thing name {:?}",
        args.thing
    );
    let ca = CertAuthority::load_or_create(&data_dir)?;
    let device = ca.issue_device(&args.thing)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let cert_path = args.out.join(format!("{}.cert.pem", args.thing));
    let key_path = args.out.join(format!("{}.private.key", args.thing));
    let ca_path = args.out.join("ca.pem");
    std::fs::write(&cert_path, &device.cert_pem)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    write_private(&key_path, &device.key_pem)?;
    std::fs::write(&ca_path, &ca.cert_pem).with_context(|| format!("writing {}", ca_path.display()))?;
    eprintln!("certificate: {}", cert_path.display());
    eprintln!("private key: {}", key_path.display());
    eprintln!("CA certificate: {}", ca_path.display());
    // The server registers, on its first connection, only a certificate recorded here, in the
    // account and region it is for; SQLite lets this process write beside a running server.
    let store = iotemu_store::Store::open(&data_dir.join("iotemu.db"))?;
    let scope = iotemu_core::Scope::new(config.server.account_id, config.server.region);
    iotemu_registry::record_issued_device(&store, &scope, &device.certificate_id, !args.no_policy)
        .map_err(|e| anyhow::anyhow!("recording the device certificate: {e}"))?;
    println!("{}", device.certificate_id);
    Ok(())
}
