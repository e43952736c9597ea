//! The serialised `token` answer of one held token, made once per second of its life: every
//! client asking within the same second gets the same bytes. Serialising the 1 KiB JWT (escape
//! check per byte) and formatting the expiry were most of a cached answer's cost
//! (docs/benchmarks.md "The pipe"). It lives inside the `Held` it describes, so it goes when the
//! token goes (logout, a new token).

use std::sync::{Arc, Mutex};

/// At most one answer: the one for the current second.
#[derive(Default)]
pub struct AnswerCache(Mutex<Option<Cached>>);

struct Cached {
    /// What the answer says: seconds left, and the wall-clock expiry it shows.
    left: u64,
    expires_at: i64,
    json: Arc<str>,
}

impl AnswerCache {
    /// The answer for (`left`, `expires_at`): the cached one if it says exactly that, else
    /// `make`'s, which replaces it.
    pub fn get_or_make(
        &self,
        left: u64,
        expires_at: i64,
        make: impl FnOnce() -> String,
    ) -> Arc<str> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some(c) if c.left == left && c.expires_at == expires_at => c.json.clone(),
            _ => {
                let json: Arc<str> = make().into();
                *slot = Some(Cached {
                    left,
                    expires_at,
                    json: json.clone(),
                });
                json
            }
        }
    }
}

/// A copy starts empty (the answer is remade on demand).
impl Clone for AnswerCache {
    fn clone(&self) -> Self {
        AnswerCache::default()
    }
}

/// Holds a token: never printed.
impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnswerCache(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_per_second_and_expiry() {
        let c = AnswerCache::default();
        let mut made = 0;
        let mut get = |left, at| {
            c.get_or_make(left, at, || {
                made += 1;
                format!("{left}/{at}/{made}")
            })
        };
        assert_eq!(&*get(10, 100), "10/100/1");
        assert_eq!(&*get(10, 100), "10/100/1", "same second: the same bytes");
        assert_eq!(&*get(9, 100), "9/100/2", "a second later: remade");
        assert_eq!(&*get(9, 101), "9/101/3", "the wall clock moved: remade");
        assert_eq!(format!("{:?}", c.clone()), "AnswerCache(..)");
    }
}
