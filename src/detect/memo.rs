//! When to remember results per value, for the dispatcher and the string tests.
//!
//! Values repeat (program names, paths, actions), so most answers can come from memory.
//! Memos are bounded in entries and value length. A memo whose values rarely repeat
//! (addresses, temporary names, command lines an attacker varies) rests for a while, so
//! remembering never costs much more than not remembering.

/// Values a memo keeps before it is emptied, and the longest value it keeps.
pub(crate) const ENTRIES: usize = 1024;
pub(crate) const VALUE_LEN: usize = 128;
/// Lookups per measuring round; more than half of them missing starts a rest of `REST`
/// lookups.
const ROUND: u32 = 1024;
const REST: u32 = 64 * 1024;

#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    lookups: u32,
    misses: u32,
    resting: u32,
}

impl Policy {
    /// Whether to look a value of `len` bytes up (and keep it on a miss). `clear` runs when a
    /// rest begins: what the memo holds is not worth keeping.
    pub(crate) fn consult(&mut self, len: usize, clear: impl FnOnce()) -> bool {
        if self.resting > 0 {
            self.resting -= 1;
            return false;
        }
        if len > VALUE_LEN {
            return false;
        }
        self.lookups += 1;
        if self.lookups == ROUND {
            if self.misses > ROUND / 2 {
                self.resting = REST;
                clear();
            }
            self.lookups = 0;
            self.misses = 0;
        }
        true
    }

    pub(crate) fn missed(&mut self) {
        self.misses += 1;
    }

    #[cfg(test)]
    pub(crate) fn resting(&self) -> bool {
        self.resting > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rests_when_values_do_not_repeat_and_comes_back() {
        let mut p = Policy::default();
        let mut cleared = 0;
        // Repeating values: never rests.
        for i in 0..10 * ROUND {
            assert!(p.consult(8, || cleared += 1));
            if i % 10 == 0 {
                p.missed();
            }
        }
        assert_eq!(cleared, 0);
        // Unique values: rests after one round, and is emptied once.
        for _ in 0..ROUND {
            if p.consult(8, || cleared += 1) {
                p.missed();
            }
        }
        assert!(p.resting() && cleared == 1);
        assert!((0..REST).all(|_| !p.consult(8, || cleared += 1)));
        assert!(p.consult(8, || cleared += 1), "back after the rest");
        assert!(
            !p.consult(VALUE_LEN + 1, || cleared += 1),
            "long values are not kept"
        );
    }
}
