use std::time::{Duration, Instant};

/// A point in time by which an operation must be over.
///
/// Every wait and every subprocess in an action takes the action's deadline (or a shorter one
/// made with [`Deadline::within`]) instead of its own ad-hoc sleep or timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    end: Instant,
}

/// The longest budget a deadline takes: a longer one (a timeout of u64::MAX ms) would overflow
/// the clock; ten years is as good as never for an action.
const MAX_BUDGET: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

impl Deadline {
    /// A deadline `budget` from now (at most ten years: any budget is accepted).
    pub fn after(budget: Duration) -> Self {
        Deadline {
            end: Instant::now() + budget.min(MAX_BUDGET),
        }
    }

    /// The instant this deadline falls on.
    pub fn instant(&self) -> Instant {
        self.end
    }

    /// Time left; zero once passed.
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.end
    }

    /// A deadline no later than this one and at most `budget` from now: for one step of an
    /// action that must leave time for the steps after it.
    pub fn within(&self, budget: Duration) -> Deadline {
        Deadline {
            end: self.end.min(Instant::now() + budget.min(MAX_BUDGET)),
        }
    }

    /// This deadline brought forward by `reserve` (never before now): time kept back for
    /// reporting, cleanup or a later step.
    pub fn less(&self, reserve: Duration) -> Deadline {
        let now = Instant::now();
        let end = self.end.checked_sub(reserve).unwrap_or(now).max(now);
        Deadline { end }
    }

    /// Sleep for `step`, or until the deadline if that comes first. Returns false when the
    /// deadline has passed (so loops read `while deadline.sleep(step) { .. }`).
    pub fn sleep(&self, step: Duration) -> bool {
        let left = self.remaining();
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(step.min(left));
        true
    }

    /// Poll `check` until it returns `Some`, sleeping with a short back-off (10 ms growing to
    /// `max_step`), or give up at the deadline with `None`.
    pub fn poll<T>(&self, max_step: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
        let mut step = Duration::from_millis(10).min(max_step);
        loop {
            if let Some(v) = check() {
                return Some(v);
            }
            if !self.sleep(step) {
                return check();
            }
            step = (step * 2).min(max_step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_budget_is_accepted() {
        let d = Deadline::after(Duration::MAX);
        assert!(d.remaining() > Duration::from_secs(3600));
        assert!(d.within(Duration::MAX).remaining() > Duration::from_secs(3600));
    }

    #[test]
    fn within_never_extends() {
        let d = Deadline::after(Duration::from_millis(50));
        assert_eq!(d.within(Duration::from_secs(10)).instant(), d.instant());
        assert!(d.within(Duration::from_millis(1)).instant() < d.instant());
    }

    #[test]
    fn less_never_goes_before_now() {
        let d = Deadline::after(Duration::from_millis(10));
        let l = d.less(Duration::from_secs(10));
        assert!(l.expired());
        assert!(d.less(Duration::from_millis(1)).instant() < d.instant());
    }

    #[test]
    fn poll_gives_up_at_deadline() {
        let d = Deadline::after(Duration::from_millis(60));
        let mut calls = 0;
        let r: Option<()> = d.poll(Duration::from_millis(20), || {
            calls += 1;
            None
        });
        assert!(r.is_none());
        assert!(d.expired());
        assert!(calls >= 2);
    }

    #[test]
    fn poll_returns_value() {
        let d = Deadline::after(Duration::from_secs(5));
        let mut n = 0;
        let r = d.poll(Duration::from_millis(5), || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(r, Some(3));
    }
}
