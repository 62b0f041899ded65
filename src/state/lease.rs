//! The lease rules every backend applies: who may take, renew or release a run's lease.
//!
//! A backend reads the stored [`Lease`] inside its write transaction (SQLite: `BEGIN IMMEDIATE`;
//! PostgreSQL: `SELECT … FOR UPDATE`), asks these methods, and writes the answer back in the
//! same transaction. A released lease keeps its row so that a stalled former holder that tries
//! to renew learns who held the run after it.

use chrono::{DateTime, Utc};

use super::{LeaseOwner, RunId, StateError};

/// A run's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    /// Who took it last.
    pub holder: LeaseOwner,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Whether the holder let go of it.
    pub released: bool,
}

impl Lease {
    /// Whether `owner` may take the run now: yes if the lease is its own, released or expired.
    pub fn check_acquire(
        &self,
        run_id: &RunId,
        owner: &LeaseOwner,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        if self.holder.token == owner.token || self.released || self.expires_at <= now {
            Ok(())
        } else {
            Err(StateError::Locked {
                run_id: run_id.clone(),
                holder: self.holder.clone(),
                expires_at: self.expires_at,
            })
        }
    }

    /// Whether `owner` may take the run from `previous`, a holder known to be gone: yes if
    /// `previous` still holds it, or if `owner` could acquire it anyway.
    pub fn check_take_over(
        &self,
        run_id: &RunId,
        owner: &LeaseOwner,
        previous: &LeaseOwner,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        if self.holder.token == previous.token {
            Ok(())
        } else {
            self.check_acquire(run_id, owner, now)
        }
    }

    /// Whether `owner` may extend the lease: only if nobody else took the run since, even if that
    /// other holder has let go of it again.
    pub fn check_renew(&self, run_id: &RunId, owner: &LeaseOwner) -> Result<(), StateError> {
        if self.holder.token == owner.token {
            Ok(())
        } else {
            Err(StateError::LeaseLost {
                run_id: run_id.clone(),
                holder: self.holder.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn owner(token: &str) -> LeaseOwner {
        LeaseOwner {
            pid: 7,
            host: "h".to_owned(),
            token: token.to_owned(),
        }
    }

    fn lease(token: &str, expires_at: DateTime<Utc>, released: bool) -> Lease {
        Lease {
            holder: owner(token),
            expires_at,
            released,
        }
    }

    #[test]
    fn a_live_lease_of_another_owner_blocks_acquire() {
        let now = Utc::now();
        let run = RunId("r".to_owned());
        let live = lease("a", now + TimeDelta::seconds(1), false);
        let err = live.check_acquire(&run, &owner("b"), now).unwrap_err();
        assert!(
            matches!(err, StateError::Locked { ref holder, expires_at, .. }
                if holder.token == "a" && expires_at == live.expires_at),
            "{err:?}"
        );
        assert!(live.check_acquire(&run, &owner("a"), now).is_ok());
    }

    #[test]
    fn an_expired_or_released_lease_can_be_taken() {
        let now = Utc::now();
        let run = RunId("r".to_owned());
        let expired = lease("a", now, false);
        assert!(expired.check_acquire(&run, &owner("b"), now).is_ok());
        let released = lease("a", now + TimeDelta::seconds(60), true);
        assert!(released.check_acquire(&run, &owner("b"), now).is_ok());
    }

    #[test]
    fn a_gone_holder_can_be_replaced_but_not_whoever_replaced_it_first() {
        let now = Utc::now();
        let run = RunId("r".to_owned());
        let held_by_gone = lease("gone", now + TimeDelta::seconds(30), false);
        assert!(
            held_by_gone
                .check_take_over(&run, &owner("b"), &owner("gone"), now)
                .is_ok()
        );
        let taken_by_c = lease("c", now + TimeDelta::seconds(30), false);
        let err = taken_by_c
            .check_take_over(&run, &owner("b"), &owner("gone"), now)
            .unwrap_err();
        assert!(
            matches!(err, StateError::Locked { ref holder, .. } if holder.token == "c"),
            "{err:?}"
        );
    }

    #[test]
    fn only_the_holder_renews_even_after_release() {
        let now = Utc::now();
        let run = RunId("r".to_owned());
        let taken_over_and_released = lease("b", now, true);
        let err = taken_over_and_released
            .check_renew(&run, &owner("a"))
            .unwrap_err();
        assert!(
            matches!(err, StateError::LeaseLost { ref holder, .. } if holder.token == "b"),
            "{err:?}"
        );
        assert!(
            taken_over_and_released
                .check_renew(&run, &owner("b"))
                .is_ok()
        );
    }
}
