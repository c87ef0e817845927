//! Alerts: a rule's breach becomes an alert only once it has held, and an alert clears only
//! once the metric is back within target.
//!
//! Each rule (and each operation's baseline) has a small state machine, advanced once per
//! evaluation:
//!
//! * **Inactive** → **Pending** when the rule breaches (past its alert threshold).
//! * **Pending** → **Firing** once the breach has held for [`AlertPolicy::hold_evaluations`]
//!   consecutive evaluations *and* for [`AlertPolicy::hold_for`] on the dashboard's clock;
//!   back to **Inactive** as soon as an evaluation does not breach (or has no data), so one bad
//!   interval never pages.
//! * **Firing** → **Inactive** only when an evaluation finds the metric within target; a value
//!   between target and alert threshold, or no data, keeps it firing, so an alert does not
//!   flap around its threshold (hysteresis).

use super::health_rules::{Check, Finding};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How long a breach must hold before its alert fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Consecutive breaching evaluations needed (at least 1). Default 3.
    pub hold_evaluations: u32,
    /// Time the breach must have lasted, from the first breaching evaluation. Default 0.
    pub hold_for: Duration,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            hold_evaluations: 3,
            hold_for: Duration::ZERO,
        }
    }
}

/// An alert: a rule that has breached for long enough.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The rule.
    pub check: Check,
    /// The value at the latest evaluation that had data.
    pub value: f64,
    /// Why, in words (from the latest finding).
    pub detail: String,
    /// When the breach began (the dashboard's clock).
    pub since: Duration,
    /// When the alert fired.
    pub fired_at: Duration,
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

#[derive(Debug, Clone)]
enum State {
    Pending { since: Duration, evaluations: u32 },
    Firing(Alert),
}

/// What one evaluation changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertChanges {
    /// Alerts that started firing.
    pub fired: Vec<Alert>,
    /// Alerts that cleared.
    pub resolved: Vec<Alert>,
}

/// The state of every rule's alert.
#[derive(Debug, Default)]
pub(crate) struct AlertBook {
    states: BTreeMap<Check, State>,
}

impl AlertBook {
    /// Advances every alert by one evaluation at time `now` with these findings (rules not
    /// among them had no data).
    pub(crate) fn evaluate(
        &mut self,
        policy: &AlertPolicy,
        now: Duration,
        findings: &[Finding],
    ) -> AlertChanges {
        let mut changes = AlertChanges::default();
        let mut seen: Vec<&Check> = Vec::with_capacity(findings.len());
        for finding in findings {
            seen.push(&finding.check);
            let next = match self.states.remove(&finding.check) {
                None if finding.breach => Some(State::Pending {
                    since: now,
                    evaluations: 1,
                }),
                None => None,
                Some(State::Pending { since, evaluations }) if finding.breach => {
                    Some(State::Pending {
                        since,
                        evaluations: evaluations.saturating_add(1),
                    })
                }
                Some(State::Pending { .. }) => None,
                Some(State::Firing(mut alert)) => {
                    alert.value = finding.value;
                    alert.detail.clone_from(&finding.detail);
                    if finding.clear {
                        changes.resolved.push(alert);
                        None
                    } else {
                        Some(State::Firing(alert))
                    }
                }
            };
            let next = match next {
                Some(State::Pending { since, evaluations })
                    if evaluations >= policy.hold_evaluations.max(1)
                        && now.saturating_sub(since) >= policy.hold_for =>
                {
                    let alert = Alert {
                        check: finding.check.clone(),
                        value: finding.value,
                        detail: finding.detail.clone(),
                        since,
                        fired_at: now,
                    };
                    changes.fired.push(alert.clone());
                    Some(State::Firing(alert))
                }
                other => other,
            };
            if let Some(state) = next {
                self.states.insert(finding.check.clone(), state);
            }
        }
        // No data: a pending breach is not confirmed, a firing alert is not cleared.
        self.states
            .retain(|check, state| matches!(state, State::Firing(_)) || seen.contains(&check));
        changes
    }

    /// Every firing alert, in rule order.
    pub(crate) fn firing(&self) -> Vec<Alert> {
        self.states
            .values()
            .filter_map(|s| match s {
                State::Firing(a) => Some(a.clone()),
                State::Pending { .. } => None,
            })
            .collect()
    }

    /// Rules whose breach is pending, with the number of breaching evaluations so far.
    pub(crate) fn pending(&self) -> Vec<(Check, u32)> {
        self.states
            .iter()
            .filter_map(|(c, s)| match s {
                State::Pending { evaluations, .. } => Some((c.clone(), *evaluations)),
                State::Firing(_) => None,
            })
            .collect()
    }
}
