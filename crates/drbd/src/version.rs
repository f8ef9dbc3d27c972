//! The loaded DRBD kernel module's version and version ranges ("8.4.0-9.99").
//!
//! The module publishes its version in `/sys/module/drbd/version` and on the first line of
//! `/proc/drbd` (`version: 8.4.11 (api:1/proto:86-101)`).

use std::fmt;
use std::str::FromStr;

/// A DRBD module version `major.minor.patch` (a suffix such as `-1` or `rc1` is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleVersion {
    /// Major version (8 or 9).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
}

/// Text that is not a version or a version range; keeps the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVersion(pub String);

impl fmt::Display for BadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a DRBD version or range: {:?}", self.0)
    }
}

impl std::error::Error for BadVersion {}

impl FromStr for ModuleVersion {
    type Err = BadVersion;
    fn from_str(s: &str) -> Result<Self, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let core = s
            .trim()
            .split(['-', '+', '~', ' '])
            .next()
            .ok_or_else(bad)?;
        let mut it = core.split('.');
        let mut num = |required: bool| -> Result<u32, BadVersion> {
            match it.next() {
                Some(p) => {
                    let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().map_err(|_| bad())
                }
                None if required => Err(bad()),
                None => Ok(0),
            }
        };
        let v = ModuleVersion {
            major: num(true)?,
            minor: num(true)?,
            patch: num(false)?,
        };
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl ModuleVersion {
    /// DRBD 9 and later (node ids, quorum, several peers).
    pub fn is_drbd9(&self) -> bool {
        self.major >= 9
    }
}

/// An inclusive range `LOW-HIGH` (either side may be empty: `8.4-`, `-9.2`). A bound written
/// with two parts (`9.2`) covers every patch level of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// The lowest version accepted (`None`: no lower bound).
    pub low: Option<ModuleVersion>,
    /// The highest version accepted (`None`: no upper bound).
    pub high: Option<ModuleVersion>,
}

impl FromStr for VersionRange {
    type Err = BadVersion;
    fn from_str(s: &str) -> Result<Self, BadVersion> {
        let bad = || BadVersion(s.to_string());
        let (lo, hi) = s.trim().split_once('-').ok_or_else(bad)?;
        let parse = |t: &str, upper: bool| -> Result<Option<ModuleVersion>, BadVersion> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            let mut v: ModuleVersion = t.parse().map_err(|_| bad())?;
            if upper && t.split('.').count() == 2 {
                v.patch = u32::MAX;
            }
            Ok(Some(v))
        };
        let r = VersionRange {
            low: parse(lo, false)?,
            high: parse(hi, true)?,
        };
        if let (Some(l), Some(h)) = (r.low, r.high) {
            if l > h {
                return Err(bad());
            }
        }
        Ok(r)
    }
}

impl VersionRange {
    /// True when `v` is within the range.
    pub fn contains(&self, v: ModuleVersion) -> bool {
        self.low.is_none_or(|l| v >= l) && self.high.is_none_or(|h| v <= h)
    }
}

/// The version from the text of `/proc/drbd` (first line) or `/sys/module/drbd/version`.
pub fn parse_module_version(text: &str) -> Result<ModuleVersion, BadVersion> {
    let first = text.lines().next().unwrap_or("").trim();
    let v = first.strip_prefix("version:").unwrap_or(first).trim();
    v.split_whitespace()
        .next()
        .ok_or_else(|| BadVersion(text.to_string()))?
        .parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_drbd_and_sysfs() {
        let v = parse_module_version("version: 8.4.11 (api:1/proto:86-101)\nsrcversion: F73\n")
            .unwrap();
        assert_eq!(v.to_string(), "8.4.11");
        assert!(!v.is_drbd9());
        let v = parse_module_version("9.2.12\n").unwrap();
        assert!(v.is_drbd9());
        assert!(parse_module_version("").is_err());
        assert!(parse_module_version("version: x.y").is_err());
    }

    #[test]
    fn ranges() {
        let r: VersionRange = "8.4-9.2".parse().unwrap();
        assert!(r.contains("8.4.11".parse().unwrap()));
        assert!(r.contains("9.2.12".parse().unwrap()));
        assert!(!r.contains("9.3.0".parse().unwrap()));
        assert!(!r.contains("8.3.16".parse().unwrap()));
        let open: VersionRange = "9.0-".parse().unwrap();
        assert!(open.contains("10.1.0".parse().unwrap()));
        assert!(!open.contains("8.4.11".parse().unwrap()));
        for bad in ["", "9", "9.2", "a-b", "9.2-8.4", "1.2.3.4-"] {
            let e = bad.parse::<VersionRange>().unwrap_err();
            assert_eq!(e.0, bad);
        }
    }
}
