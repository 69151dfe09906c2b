//! `iotemu logs tail`: the entries of a running emulator, from its admin routes
//! (`GET /_iotemu/logs`, and `/_iotemu/logs/stream` with `--follow`), read with reqwest (plain
//! HTTP, no proxy: the emulator's API is on a local address) line by line as the body streams in.

use clap::Args;
use serde_json::Value;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Options of `iotemu logs tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// The emulator's API, e.g. http://127.0.0.1:4580 (wins over --api-port).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The API port of an emulator on 127.0.0.1 [default: 4580].
    #[arg(long, env = "IOTEMU_API_PORT", value_name = "PORT")]
    pub api_port: Option<u16>,
    /// Keep printing new entries until interrupted (by default: print the recent ones and exit).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only entries of this eventType (Connect, Publish-In, ...; any case).
    #[arg(long, value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Only entries of this clientId.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Only entries of this traceId.
    #[arg(long, value_name = "ID")]
    pub trace_id: Option<String>,
    /// Only Failure entries.
    #[arg(long)]
    pub failures: bool,
    /// Only entries at or after this time: epoch milliseconds or `YYYY-MM-DD HH:MM:SS[.mmm]` UTC.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// At most the last N recent entries (with --follow, the last N before the new ones;
    /// default there: none).
    #[arg(long, short = 'n', value_name = "N")]
    pub lines: Option<usize>,
    /// Print the entries as they are, one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Why the command stopped early.
#[derive(Debug)]
enum TailError {
    /// Nobody answers, or the request is wrong: exit 2.
    Usage(String),
    /// The connection broke, or the answer makes no sense: exit 1.
    Failed(String),
    /// Standard output was closed (`| head`): a quiet success.
    StdoutClosed,
}

/// Runs the command; prints its one-line error itself.
pub fn run(args: &TailArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(tail(args)),
        Err(e) => Err(TailError::Failed(format!("starting the HTTP client: {e}"))),
    };
    match result {
        Ok(()) | Err(TailError::StdoutClosed) => ExitCode::SUCCESS,
        Err(TailError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(TailError::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn tail(args: &TailArgs) -> Result<(), TailError> {
    let endpoint = match &args.endpoint {
        Some(url) => Endpoint::parse(url).map_err(TailError::Usage)?,
        None => {
            Endpoint { authority: format!("127.0.0.1:{}", args.api_port.unwrap_or(4580)), prefix: "".into() }
        }
    };
    let route = if args.follow { "/_iotemu/logs/stream" } else { "/_iotemu/logs" };
    let response = endpoint.get(&format!("{route}{}", query(args)), !args.follow).await?;
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| body.trim().to_string());
        let what = format!("{} answered {status}: {message}", endpoint.url());
        return Err(if status == 400 { TailError::Usage(what) } else { TailError::Failed(what) });
    }
    let colour =
        !args.json && io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = Printer { out: io::BufWriter::new(io::stdout().lock()), json: args.json, colour };
    let broken = |e: String| TailError::Failed(format!("reading from {}: {e}", endpoint.url()));
    let mut body = Lines { response, buffer: Vec::new(), done: false };
    if !args.follow {
        while let Some(line) = body.next().await.map_err(broken)? {
            if !line.trim().is_empty() {
                out.entry(&line, false)?;
            }
        }
        return out.out.flush().map_err(out_error);
    }
    // Server-Sent Events: the `data:` lines up to a blank line make one event; each entry is
    // flushed at once.
    let (mut event, mut data) = (String::new(), String::new());
    while let Some(line) = body.next().await.map_err(broken)? {
        if line.is_empty() {
            if event == "lagged" {
                let missed = serde_json::from_str::<Value>(&data).ok().map(|v| v["missed"].clone());
                eprintln!("iotemu logs tail: fell behind, {} entries not shown", missed.unwrap_or_default());
            } else if !data.is_empty() {
                out.entry(&data, true)?;
            }
            event.clear();
            data.clear();
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            "event" => event = value.to_string(),
            _ => {}
        }
    }
    Ok(())
}

/// A response body read line by line as it arrives (`\n` or `\r\n`; a last line without one
/// too).
struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
    done: bool,
}

impl Lines {
    async fn next(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return text(line).map(Some);
            }
            if self.done {
                return match self.buffer.is_empty() {
                    true => Ok(None),
                    false => text(std::mem::take(&mut self.buffer)).map(Some),
                };
            }
            match self.response.chunk().await.map_err(|e| cause(&e))? {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => self.done = true,
            }
        }
    }
}

fn text(line: Vec<u8>) -> Result<String, String> {
    String::from_utf8(line).map_err(|_| "stream did not contain valid UTF-8".to_string())
}

/// The innermost cause of an error (for reqwest's, the I/O error behind "error sending
/// request"), as one line.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}

/// Writes entries to standard output, as they are or readable.
struct Printer<W: Write> {
    out: W,
    json: bool,
    colour: bool,
}

impl<W: Write> Printer<W> {
    fn entry(&mut self, line: &str, flush: bool) -> Result<(), TailError> {
        let text = if self.json { line.to_string() } else { readable(line, self.colour) };
        writeln!(self.out, "{text}").map_err(out_error)?;
        if flush {
            self.out.flush().map_err(out_error)?;
        }
        Ok(())
    }
}

fn out_error(e: io::Error) -> TailError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        TailError::StdoutClosed
    } else {
        TailError::Failed(format!("writing to standard output: {e}"))
    }
}

/// The filters as a query string (`?eventType=...&...`, or nothing).
fn query(args: &TailArgs) -> String {
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut add = |key, value: Option<&String>| {
        if let Some(v) = value {
            params.push((key, v.clone()));
        }
    };
    add("eventType", args.event_type.as_ref());
    add("clientId", args.client_id.as_ref());
    add("traceId", args.trace_id.as_ref());
    add("since", args.since.as_ref());
    if args.failures {
        params.push(("status", "Failure".into()));
    }
    if let Some(n) = args.lines {
        params.push(("limit", n.to_string()));
    }
    if params.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    format!("?{}", pairs.join("&"))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One entry as a readable line: time, level, eventType, clientId, topic (or `-`), status, then
/// the disconnect reason and a failure's reason and details; red for failures when `colour`.
/// A line that is not a JSON entry is shown as it is.
pub fn readable(line: &str, colour: bool) -> String {
    let Ok(Value::Object(e)) = serde_json::from_str::<Value>(line) else {
        return line.to_string();
    };
    let text = |key: &str| e.get(key).and_then(Value::as_str).unwrap_or("-");
    if e.contains_key("event") && !e.contains_key("eventType") {
        return readable_lorawan(&e, colour);
    }
    let timestamp = text("timestamp");
    let time = timestamp.split_once(' ').map_or(timestamp, |(_, time)| time);
    let mut out = format!(
        "{time} {:<5} {:<11} {:<16} {:<16} {}",
        text("logLevel"),
        text("eventType"),
        text("clientId"),
        text("topicName"),
        text("status")
    );
    if let Some(reason) = e.get("disconnectReason").and_then(Value::as_str) {
        out.push(' ');
        out.push_str(reason);
    }
    if let Some(reason) = e.get("reason").and_then(Value::as_str) {
        out.push_str(&format!(" {reason}: {}", text("details")));
    }
    if colour && text("status") == "Failure" {
        format!("\x1b[31m{out}\x1b[0m")
    } else {
        out
    }
}

/// A LoRaWAN entry (`/aws/iotwireless`): time, level, event, resource id, then the message.
fn readable_lorawan(e: &serde_json::Map<String, Value>, colour: bool) -> String {
    let text = |key: &str| e.get(key).and_then(Value::as_str).unwrap_or("-");
    let timestamp = text("timestamp");
    let time = timestamp.split_once('T').map_or(timestamp, |(_, time)| time.trim_end_matches('Z'));
    let time = time.get(..12).unwrap_or(time);
    let out = format!(
        "{time} {:<5} {:<11} {:<36} {}",
        text("logLevel"),
        text("event"),
        text("resourceId"),
        text("message")
    );
    if colour && text("logLevel") == "ERROR" {
        format!("\x1b[31m{out}\x1b[0m")
    } else {
        out
    }
}

/// `http://host:port[/prefix]`.
#[derive(Debug)]
struct Endpoint {
    authority: String,
    prefix: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("invalid endpoint {url:?}: expected http://HOST:PORT (the emulator's API is plain HTTP)")
        })?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(format!("invalid endpoint {url:?}: no host"));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.into()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint { authority, prefix: path.trim_end_matches('/').to_string() })
    }

    fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.prefix)
    }

    /// Sends `GET` of `target` (under the prefix) and waits for the head; with `timeout`, each
    /// read of the body may take 30 s at most (not for streams).
    async fn get(&self, target: &str, timeout: bool) -> Result<reqwest::Response, TailError> {
        let mut client = reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(5));
        if timeout {
            client = client.read_timeout(Duration::from_secs(30));
        }
        let client =
            client.build().map_err(|e| TailError::Failed(format!("starting the HTTP client: {e}")))?;
        let url = format!("{}{target}", self.url());
        match client.get(&url).header("accept", "*/*").send().await {
            Ok(response) => Ok(response),
            Err(e) if e.is_connect() => {
                Err(TailError::Usage(format!("no emulator answers at {}: {}", self.url(), cause(&e))))
            }
            Err(e) if e.is_timeout() => {
                Err(TailError::Failed(format!("talking to {}: {}", self.url(), cause(&e))))
            }
            Err(_) => Err(TailError::Usage(format!("{} does not answer like an iotemu API", self.url()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_lines_show_the_main_attributes_and_colour_only_failures() {
        let ok = r#"{"timestamp":"2024-01-02 10:00:00.123","logLevel":"INFO","status":"Success","eventType":"Publish-In","topicName":"room/1","clientId":"dev-1"}"#;
        let line = readable(ok, true);
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            ["10:00:00.123", "INFO", "Publish-In", "dev-1", "room/1", "Success"]
        );
        assert!(!line.contains('\x1b'));
        let failed = r#"{"timestamp":"2024-01-02 10:00:01.000","logLevel":"ERROR","status":"Failure","eventType":"Disconnect","clientId":"dev-1","disconnectReason":"DUPLICATE_CLIENTID","reason":"DUPLICATE_CLIENT_ID","details":"A new connection"}"#;
        let line = readable(failed, false);
        assert!(line.starts_with("10:00:01.000 ERROR Disconnect  dev-1            -"), "{line}");
        assert!(line.ends_with("Failure DUPLICATE_CLIENTID DUPLICATE_CLIENT_ID: A new connection"), "{line}");
        assert!(readable(failed, true).starts_with("\x1b[31m"));
        assert_eq!(readable("not json", true), "not json");
        let lora = r#"{"timestamp":"2020-11-24T01:46:50.883481989Z","resource":"WirelessDevice","resourceId":"cb4c087c-1be5-4990-8654-ccf543ee9fff","devEui":"58a0cb000020255c","event":"Join","logLevel":"ERROR","message":"invalid MIC."}"#;
        assert_eq!(
            readable(lora, false),
            "01:46:50.883 ERROR Join        cb4c087c-1be5-4990-8654-ccf543ee9fff invalid MIC."
        );
        assert!(readable(lora, true).starts_with("\x1b[31m"));
    }

    #[test]
    fn endpoints_and_queries() {
        let e = Endpoint::parse("http://localhost:4580/").unwrap();
        assert_eq!((e.authority.as_str(), e.prefix.as_str()), ("localhost:4580", ""));
        assert_eq!(Endpoint::parse("http://emu/x").unwrap().authority, "emu:80");
        assert!(Endpoint::parse("https://localhost:4580").unwrap_err().contains("plain HTTP"));
        assert_eq!(percent_encode("2024-01-02 10:00:00.000"), "2024-01-02%2010%3A00%3A00.000");
    }
}
