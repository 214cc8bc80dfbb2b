//! The worker's restart policy: how many panics a context survives (the `restart`
//! section of the configuration), and the budget that counts them.
//!
//! `once` (the default) allows one restart in the life of the context; `bounded` allows
//! `max_restarts` within any `within_ms` window. Nothing more elaborate: back-off belongs
//! in the host's supervisor, and no restart happens beyond the policy.

use serde::{Deserialize, Serialize};

use crate::protocol::config::ConfigError;

/// How many panics of the worker a context survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    /// One restart in the life of the context (default).
    #[default]
    Once,
    /// At most `max_restarts` restarts within any window of `within_ms` milliseconds
    /// (0 restarts: the first panic fails the context).
    Bounded {
        /// Restarts allowed within the window.
        max_restarts: u32,
        /// The window, in milliseconds.
        within_ms: u64,
    },
}

/// The policy `restart.policy` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum RestartPolicyKind {
    /// One restart in the life of the context.
    #[default]
    Once,
    /// `max_restarts` restarts within `within_ms`.
    Bounded,
}

/// The `restart` section as written; [`Self::into_policy`] checks which keys go together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RestartSection {
    /// `"once"` (one restart in the life of the context) or `"bounded"`.
    pub policy: RestartPolicyKind,
    /// `"bounded"` only, required: restarts allowed within `within_ms` (0: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    /// `"bounded"` only, required: the window, in milliseconds (greater than 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
}

impl RestartSection {
    /// The policy the section describes; the error names the key.
    pub fn into_policy(self) -> Result<RestartPolicy, ConfigError> {
        let only_bounded = "only allowed when restart.policy is \"bounded\"";
        let required = "required when restart.policy is \"bounded\"";
        match (self.policy, self.max_restarts, self.within_ms) {
            (RestartPolicyKind::Once, None, None) => Ok(RestartPolicy::Once),
            (RestartPolicyKind::Once, Some(_), _) => {
                Err(ConfigError::new("restart.max_restarts", only_bounded))
            }
            (RestartPolicyKind::Once, None, Some(_)) => {
                Err(ConfigError::new("restart.within_ms", only_bounded))
            }
            (RestartPolicyKind::Bounded, None, _) => {
                Err(ConfigError::new("restart.max_restarts", required))
            }
            (RestartPolicyKind::Bounded, Some(_), None) => {
                Err(ConfigError::new("restart.within_ms", required))
            }
            (RestartPolicyKind::Bounded, Some(_), Some(0)) => Err(ConfigError::new(
                "restart.within_ms",
                "must be greater than 0",
            )),
            (RestartPolicyKind::Bounded, Some(max_restarts), Some(within_ms)) => {
                Ok(RestartPolicy::Bounded {
                    max_restarts,
                    within_ms,
                })
            }
        }
    }

    /// The section that configures `policy`.
    pub fn from_policy(policy: &RestartPolicy) -> Self {
        match *policy {
            RestartPolicy::Once => Self::default(),
            RestartPolicy::Bounded {
                max_restarts,
                within_ms,
            } => Self {
                policy: RestartPolicyKind::Bounded,
                max_restarts: Some(max_restarts),
                within_ms: Some(within_ms),
            },
        }
    }

    pub(crate) fn serialize_policy<S: serde::Serializer>(
        policy: &RestartPolicy,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Self::from_policy(policy).serialize(serializer)
    }
}

/// Counts the restarts of one context against its policy.
#[derive(Debug)]
pub(crate) struct RestartBudget {
    policy: RestartPolicy,
    /// When each restart happened (Unix ms), oldest first.
    restarts: Vec<u64>,
    /// Restarts in the life of the context.
    count: u64,
}

impl RestartBudget {
    pub(crate) fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            restarts: Vec::new(),
            count: 0,
        }
    }

    /// Restarts so far.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Spends one restart at `now_ms`: `Ok(count)` with the restarts so far, this one
    /// included, or `Err` with why the budget is exhausted.
    pub(crate) fn spend(&mut self, now_ms: u64) -> Result<u64, String> {
        match self.policy {
            RestartPolicy::Once => {
                if self.count >= 1 {
                    return Err("restart budget exhausted: the restart policy \"once\" \
                                allows one restart, already used"
                        .to_owned());
                }
            }
            RestartPolicy::Bounded {
                max_restarts,
                within_ms,
            } => {
                self.restarts
                    .retain(|&at| now_ms.saturating_sub(at) < within_ms);
                if self.restarts.len() >= max_restarts as usize {
                    return Err(format!(
                        "restart budget exhausted: {} restart(s) within {within_ms} ms \
                         allowed (restart policy \"bounded\")",
                        max_restarts
                    ));
                }
            }
        }
        self.restarts.push(now_ms);
        self.count += 1;
        Ok(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_allows_one_restart_ever() {
        let mut budget = RestartBudget::new(RestartPolicy::Once);
        assert_eq!(budget.spend(0), Ok(1));
        let err = budget.spend(u64::MAX).expect_err("second restart");
        assert!(err.contains("budget exhausted"), "{err}");
        assert_eq!(budget.count(), 1);
    }

    #[test]
    fn bounded_counts_restarts_within_the_window_only() {
        let mut budget = RestartBudget::new(RestartPolicy::Bounded {
            max_restarts: 2,
            within_ms: 1000,
        });
        assert_eq!(budget.spend(0), Ok(1));
        assert_eq!(budget.spend(500), Ok(2));
        let err = budget.spend(999).expect_err("third within the window");
        assert!(err.contains("2 restart(s) within 1000 ms"), "{err}");
        // The first restart leaves the window at 1000.
        assert_eq!(budget.spend(1000), Ok(3));
        assert!(budget.spend(1400).is_err());
        assert_eq!(budget.spend(1500), Ok(4));
    }

    #[test]
    fn bounded_with_no_restarts_fails_at_once() {
        let mut budget = RestartBudget::new(RestartPolicy::Bounded {
            max_restarts: 0,
            within_ms: 1,
        });
        assert!(budget.spend(0).is_err());
        assert_eq!(budget.count(), 0);
    }
}
