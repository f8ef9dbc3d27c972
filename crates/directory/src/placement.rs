//! The four placement policies, as pure functions over the back-end registry.
//!
//! Each call costs O(number of back-ends): least used reads the counters kept on the back-end
//! entries (updated by atomic increments), never the accounts themselves, so the cost of one
//! placement does not grow with the number of accounts already placed.

use crate::{Backend, DirectoryError, Policy};

/// A small deterministic generator (SplitMix64, Steele, Lea and Flood, OOPSLA 2014): enough
/// for spreading accounts, and a fixed seed makes a distribution reproducible in tests.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed` (same seed, same sequence).
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// Seeded from the clock and the pid: different in every process.
    pub fn from_entropy() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        SplitMix64::new(t ^ (u64::from(std::process::id()) << 32))
    }

    /// The next number of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias (Lemire's multiply-shift with rejection).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no value");
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }
}

/// Choose the back-end for a new account of a domain with `policy` and `home`.
///
/// Only enabled back-ends are candidates; `exclude` names back-ends to skip (for instance one
/// that just refused a connection). Domain-based placement never falls back to another
/// back-end: its whole domain lives on its home.
pub fn choose<'a>(
    policy: Policy,
    backends: &'a [Backend],
    home: Option<&str>,
    exclude: &[String],
    rng: &mut SplitMix64,
) -> Result<&'a Backend, DirectoryError> {
    if policy == Policy::DomainBased {
        let home = home.ok_or_else(|| DirectoryError::NoBackend {
            reason: "the domain is domain-based but has no home back-end".into(),
        })?;
        let b =
            backends
                .iter()
                .find(|b| b.name == home)
                .ok_or_else(|| DirectoryError::NoBackend {
                    reason: format!("home back-end {home} is not registered"),
                })?;
        if !b.enabled {
            return Err(DirectoryError::NoBackend {
                reason: format!("home back-end {home} is disabled"),
            });
        }
        if exclude.contains(&b.name) {
            return Err(DirectoryError::NoBackend {
                reason: format!("home back-end {home} is unavailable"),
            });
        }
        return Ok(b);
    }
    let candidates: Vec<&Backend> = backends
        .iter()
        .filter(|b| b.enabled && !exclude.contains(&b.name))
        .collect();
    if candidates.is_empty() {
        return Err(DirectoryError::NoBackend {
            reason: "no enabled back-end is available".into(),
        });
    }
    match policy {
        Policy::Random => Ok(candidates[rng.below(candidates.len() as u64) as usize]),
        Policy::WeightedRandom => {
            let total: u64 = candidates.iter().map(|b| u64::from(b.weight)).sum();
            if total == 0 {
                return Err(DirectoryError::NoBackend {
                    reason: "every available back-end has weight 0".into(),
                });
            }
            let mut r = rng.below(total);
            for b in &candidates {
                let w = u64::from(b.weight);
                if r < w {
                    return Ok(b);
                }
                r -= w;
            }
            unreachable!("r < total = sum of weights")
        }
        // Ties go to the first name in order: deterministic and still balanced.
        Policy::LeastUsed => Ok(candidates
            .iter()
            .min_by(|a, b| {
                a.account_count
                    .cmp(&b.account_count)
                    .then_with(|| a.name.cmp(&b.name))
            })
            .expect("candidates is not empty")),
        Policy::DomainBased => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(name: &str, weight: u32, count: i64, enabled: bool) -> Backend {
        Backend {
            name: name.into(),
            cli_address: "127.0.0.1:7000".into(),
            mail_host: format!("{name}.example.net"),
            weight,
            enabled,
            account_count: count,
        }
    }

    #[test]
    fn below_is_in_range_and_deterministic() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for n in [1u64, 2, 3, 10, 1 << 40] {
            for _ in 0..100 {
                let x = a.below(n);
                assert!(x < n);
                assert_eq!(x, b.below(n));
            }
        }
    }

    #[test]
    fn weighted_random_follows_weights() {
        let bs = vec![
            be("a", 1, 0, true),
            be("b", 3, 0, true),
            be("c", 0, 0, true),
        ];
        let mut rng = SplitMix64::new(42);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            let b = choose(Policy::WeightedRandom, &bs, None, &[], &mut rng).unwrap();
            counts[(b.name.as_bytes()[0] - b'a') as usize] += 1;
        }
        assert_eq!(counts[2], 0, "weight 0 is never chosen");
        // expected 10000 / 30000; 6 sigma of a binomial(40000, 0.25) is about 520
        assert!((counts[0] as i64 - 10_000).abs() < 520, "{counts:?}");
    }

    #[test]
    fn least_used_takes_minimum_and_skips_disabled() {
        let bs = vec![
            be("a", 1, 5, true),
            be("b", 1, 2, false),
            be("c", 1, 3, true),
            be("d", 1, 3, true),
        ];
        let mut rng = SplitMix64::new(1);
        assert_eq!(
            choose(Policy::LeastUsed, &bs, None, &[], &mut rng)
                .unwrap()
                .name,
            "c"
        );
        assert_eq!(
            choose(Policy::LeastUsed, &bs, None, &["c".into()], &mut rng)
                .unwrap()
                .name,
            "d"
        );
    }

    #[test]
    fn domain_based_uses_home_only() {
        let bs = vec![be("a", 1, 0, true), be("b", 1, 0, false)];
        let mut rng = SplitMix64::new(1);
        assert_eq!(
            choose(Policy::DomainBased, &bs, Some("a"), &[], &mut rng)
                .unwrap()
                .name,
            "a"
        );
        assert!(choose(Policy::DomainBased, &bs, Some("b"), &[], &mut rng).is_err());
        assert!(choose(Policy::DomainBased, &bs, Some("zz"), &[], &mut rng).is_err());
        assert!(choose(Policy::DomainBased, &bs, None, &[], &mut rng).is_err());
        assert!(choose(Policy::DomainBased, &bs, Some("a"), &["a".into()], &mut rng).is_err());
    }

    #[test]
    fn no_candidates_is_an_error() {
        let bs = vec![be("a", 0, 0, true), be("b", 1, 0, false)];
        let mut rng = SplitMix64::new(1);
        assert!(choose(Policy::Random, &[], None, &[], &mut rng).is_err());
        assert!(choose(Policy::WeightedRandom, &bs, None, &[], &mut rng).is_err());
        assert_eq!(
            choose(Policy::Random, &bs, None, &[], &mut rng)
                .unwrap()
                .name,
            "a"
        );
    }
}
