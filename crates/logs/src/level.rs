//! Log levels and the filter the configuration (and later SetV2LoggingOptions) sets.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The `logLevel` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// The configured threshold: entries at this level and more severe are written.
/// `Disabled` writes nothing (AWS's `DISABLED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelFilter {
    Debug,
    Info,
    Warn,
    Error,
    Disabled,
}

impl LevelFilter {
    /// Whether an entry at `level` passes this filter.
    pub fn allows(self, level: LogLevel) -> bool {
        let threshold = match self {
            LevelFilter::Debug => LogLevel::Debug,
            LevelFilter::Info => LogLevel::Info,
            LevelFilter::Warn => LogLevel::Warn,
            LevelFilter::Error => LogLevel::Error,
            LevelFilter::Disabled => return false,
        };
        level >= threshold
    }

    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            0 => LevelFilter::Debug,
            1 => LevelFilter::Info,
            2 => LevelFilter::Warn,
            3 => LevelFilter::Error,
            _ => LevelFilter::Disabled,
        }
    }
}

impl FromStr for LevelFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "DEBUG" => Ok(LevelFilter::Debug),
            "INFO" => Ok(LevelFilter::Info),
            "WARN" => Ok(LevelFilter::Warn),
            "ERROR" => Ok(LevelFilter::Error),
            "DISABLED" => Ok(LevelFilter::Disabled),
            _ => Err(format!("invalid log level {s:?}: expected DEBUG, INFO, WARN, ERROR or DISABLED")),
        }
    }
}

impl fmt::Display for LevelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LevelFilter::Debug => "DEBUG",
            LevelFilter::Info => "INFO",
            LevelFilter::Warn => "WARN",
            LevelFilter::Error => "ERROR",
            LevelFilter::Disabled => "DISABLED",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_nest() {
        assert!(LevelFilter::Debug.allows(LogLevel::Debug));
        assert!(LevelFilter::Info.allows(LogLevel::Error));
        assert!(!LevelFilter::Info.allows(LogLevel::Debug));
        assert!(!LevelFilter::Error.allows(LogLevel::Warn));
        assert!(!LevelFilter::Disabled.allows(LogLevel::Error));
        assert_eq!("warn".parse::<LevelFilter>(), Ok(LevelFilter::Warn));
        assert!("LOUD".parse::<LevelFilter>().is_err());
    }
}
