use std::fmt;

/// OCF exit codes (OCF Resource Agent API 1.1, "Return codes"; 8 and 9 are Pacemaker's
/// promotable-clone extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcfStatus {
    /// The action succeeded (or the resource is running).
    Success = 0,
    /// The action failed.
    ErrGeneric = 1,
    /// A parameter is wrong on this node.
    ErrArgs = 2,
    /// The action is not implemented.
    ErrUnimplemented = 3,
    /// Not permitted on this node.
    ErrPerm = 4,
    /// Something the resource needs is not installed on this node.
    ErrInstalled = 5,
    /// The configuration is wrong on every node.
    ErrConfigured = 6,
    /// The resource is cleanly stopped.
    NotRunning = 7,
    /// Running in the promoted role.
    RunningPromoted = 8,
    /// Promoted, and failed.
    FailedPromoted = 9,
}

impl OcfStatus {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The name Pacemaker's logs and crm_mon use for the code.
    pub fn name(self) -> &'static str {
        match self {
            OcfStatus::Success => "ok",
            OcfStatus::ErrGeneric => "error",
            OcfStatus::ErrArgs => "invalid parameter",
            OcfStatus::ErrUnimplemented => "unimplemented feature",
            OcfStatus::ErrPerm => "insufficient privileges",
            OcfStatus::ErrInstalled => "not installed",
            OcfStatus::ErrConfigured => "not configured",
            OcfStatus::NotRunning => "not running",
            OcfStatus::RunningPromoted => "promoted",
            OcfStatus::FailedPromoted => "promoted (failed)",
        }
    }
}

impl fmt::Display for OcfStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

/// A failed action: the exit code and the exit reason Pacemaker shows in crm_mon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcfError {
    /// The exit code.
    pub status: OcfStatus,
    /// The exit reason: one short line Pacemaker shows in crm_mon.
    pub reason: String,
}

/// What an action returns: the non-failure answers (0, 7, 8) as `Ok`, failures as `Err`.
pub type OcfResult = Result<OcfStatus, OcfError>;

impl OcfError {
    /// A failure with any code.
    pub fn new(status: OcfStatus, reason: impl Into<String>) -> Self {
        OcfError {
            status,
            reason: reason.into(),
        }
    }
    /// 1: the action failed (a recurring monitor: the resource failed here).
    pub fn generic(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrGeneric, reason)
    }
    /// 2: a parameter is wrong on this node (e.g. a path that exists elsewhere).
    pub fn args(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrArgs, reason)
    }
    /// 4: not permitted here.
    pub fn perm(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrPerm, reason)
    }
    /// 5: something the resource needs is not installed on this node.
    pub fn installed(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrInstalled, reason)
    }
    /// 6: the configuration is wrong on every node (Pacemaker bans the resource everywhere).
    pub fn configured(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::ErrConfigured, reason)
    }
    /// 9: promoted, and failed.
    pub fn failed_promoted(reason: impl Into<String>) -> Self {
        Self::new(OcfStatus::FailedPromoted, reason)
    }
}

/// The failure to report among several independent checks: the first configuration error
/// (6, wrong on every node) if any, else the first failure. Pacemaker bans a resource from
/// every node on 6 but only from this node on 5 or 2, so a 6 must not hide behind a 5.
pub fn first_failure(
    checks: impl IntoIterator<Item = Result<(), OcfError>>,
) -> Result<(), OcfError> {
    let mut first = None;
    for r in checks {
        match r {
            Err(e) if e.status == OcfStatus::ErrConfigured => return Err(e),
            Err(e) if first.is_none() => first = Some(e),
            _ => {}
        }
    }
    first.map_or(Ok(()), Err)
}

/// A parameter error is wrong on every node: 6.
impl From<crate::ParamError> for OcfError {
    fn from(e: crate::ParamError) -> Self {
        OcfError::configured(e.to_string())
    }
}

impl fmt::Display for OcfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl std::error::Error for OcfError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_api() {
        let all = [
            (OcfStatus::Success, 0),
            (OcfStatus::ErrGeneric, 1),
            (OcfStatus::ErrArgs, 2),
            (OcfStatus::ErrUnimplemented, 3),
            (OcfStatus::ErrPerm, 4),
            (OcfStatus::ErrInstalled, 5),
            (OcfStatus::ErrConfigured, 6),
            (OcfStatus::NotRunning, 7),
            (OcfStatus::RunningPromoted, 8),
            (OcfStatus::FailedPromoted, 9),
        ];
        for (s, c) in all {
            assert_eq!(s.code(), c);
        }
        assert_eq!(
            OcfError::configured("x").to_string(),
            "6 (not configured): x"
        );
    }

    #[test]
    fn configuration_errors_come_first() {
        let r = first_failure([
            Ok(()),
            Err(OcfError::installed("a")),
            Err(OcfError::configured("b")),
        ]);
        assert_eq!(r, Err(OcfError::configured("b")));
        let r = first_failure([Err(OcfError::installed("a")), Err(OcfError::args("c"))]);
        assert_eq!(r, Err(OcfError::installed("a")));
        assert_eq!(first_failure([Ok(())]), Ok(()));
    }
}
