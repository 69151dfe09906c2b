//! `iotemu wait`: blocks until an emulator answers `GET /_iotemu/health` with 200, for CI steps,
//! compose `depends_on: condition: service_healthy` and the container's HEALTHCHECK (a distroless
//! image has no curl). The emulator only answers once its seed is applied, so "ready" means
//! "listening, with its fixtures in place".

use clap::Args;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Options of `iotemu wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// The emulator's API, e.g. http://iotemu:4580 (wins over --api-port).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The API port of an emulator on this machine [default: 4580]; the host is IOTEMU_BIND when
    /// that is one address, else 127.0.0.1.
    #[arg(long, env = "IOTEMU_API_PORT", value_name = "PORT")]
    pub api_port: Option<u16>,
    /// Give up after this many seconds (decimals allowed).
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    pub timeout: f64,
    /// Print nothing on success.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// How often a refused or unanswered request is tried again.
const RETRY: Duration = Duration::from_millis(20);

/// Runs the command: 0 once the emulator answers, 1 at the timeout, 2 for a bad argument.
pub fn run(args: &WaitArgs) -> ExitCode {
    let url = match endpoint(args) {
        Ok(url) => url,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if !(args.timeout.is_finite() && args.timeout >= 0.0) {
        eprintln!("error: invalid --timeout {}: expected seconds, 0 or more", args.timeout);
        return ExitCode::from(2);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout.min(86_400.0));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let last = match health(&url, left.clamp(Duration::from_millis(50), Duration::from_secs(2))) {
            Ok(()) => {
                if !args.quiet {
                    eprintln!("iotemu is ready at {}", url.text);
                }
                return ExitCode::SUCCESS;
            }
            Err(e) => e,
        };
        if Instant::now() + RETRY >= deadline {
            eprintln!("error: no emulator answered at {} within {} s: {last}", url.text, args.timeout);
            return ExitCode::FAILURE;
        }
        std::thread::sleep(RETRY);
    }
}

/// `host:port` and how to say it.
#[derive(Debug)]
struct Url {
    authority: String,
    host: String,
    text: String,
}

fn endpoint(args: &WaitArgs) -> Result<Url, String> {
    let text = match &args.endpoint {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let bind = std::env::var("IOTEMU_BIND").ok().and_then(|b| b.parse::<IpAddr>().ok());
            let host = match bind {
                Some(ip) if !ip.is_unspecified() && ip.is_ipv6() => format!("[{ip}]"),
                Some(ip) if !ip.is_unspecified() => ip.to_string(),
                _ => "127.0.0.1".to_string(),
            };
            format!("http://{host}:{}", args.api_port.unwrap_or(4580))
        }
    };
    let rest = text.strip_prefix("http://").ok_or_else(|| {
        format!("invalid endpoint {text:?}: expected http://HOST:PORT (the emulator's API is plain HTTP)")
    })?;
    if rest.contains('/') {
        return Err(format!("invalid endpoint {text:?}: expected http://HOST:PORT, without a path"));
    }
    let authority = if rest.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']')) {
        rest.to_string()
    } else {
        format!("{rest}:80")
    };
    let host = authority.rsplit_once(':').map(|(h, _)| h).unwrap_or_default().to_string();
    if host.is_empty() {
        return Err(format!("invalid endpoint {text:?}: no host"));
    }
    Ok(Url { authority, host, text })
}

/// One `GET /_iotemu/health`: `Ok` on a 200 answer, else what happened.
fn health(url: &Url, timeout: Duration) -> Result<(), String> {
    let addrs = url.authority.to_socket_addrs().map_err(|e| format!("resolving {}: {e}", url.host))?;
    let mut last = String::from("no address");
    for addr in addrs {
        let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => s,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        write!(
            stream,
            "GET /_iotemu/health HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            url.authority
        )
        .map_err(|e| e.to_string())?;
        let mut head = [0u8; 16];
        let mut read = 0;
        while read < head.len() {
            match stream.read(&mut head[read..]) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) => return Err(e.to_string()),
            }
        }
        let head = String::from_utf8_lossy(&head[..read]);
        return match head.split_whitespace().nth(1) {
            Some("200") if head.starts_with("HTTP/1.") => Ok(()),
            Some(status) if head.starts_with("HTTP/1.") => Err(format!("the health route answered {status}")),
            _ => Err("the answer is not HTTP".to_string()),
        };
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(endpoint: Option<&str>, port: Option<u16>) -> WaitArgs {
        WaitArgs { endpoint: endpoint.map(String::from), api_port: port, timeout: 1.0, quiet: true }
    }

    #[test]
    fn endpoints() {
        let url = endpoint(&args(Some("http://iotemu:4580/"), None)).unwrap();
        assert_eq!((url.authority.as_str(), url.host.as_str()), ("iotemu:4580", "iotemu"));
        assert_eq!(endpoint(&args(Some("http://emu"), None)).unwrap().authority, "emu:80");
        assert_eq!(endpoint(&args(Some("http://[::1]:9"), None)).unwrap().host, "[::1]");
        assert_eq!(endpoint(&args(Some("http://[::1]"), None)).unwrap().authority, "[::1]:80");
        assert!(endpoint(&args(Some("https://x:1"), None)).unwrap_err().contains("plain HTTP"));
        assert!(endpoint(&args(Some("http://x:1/api"), None)).unwrap_err().contains("without a path"));
        assert!(endpoint(&args(None, Some(1234))).unwrap().authority.ends_with(":1234"));
    }

    #[test]
    fn a_refused_port_is_an_error_not_a_hang() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = endpoint(&args(Some(&format!("http://127.0.0.1:{port}")), None)).unwrap();
        assert!(health(&url, Duration::from_millis(200)).is_err());
    }
}
