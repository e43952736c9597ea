//! The nothing-painted check's bookkeeping for one window (the looks themselves:
//! `platform::linux_paint`): which page is being looked at, how many looks in a row found it
//! blank, and when the question is settled. Pure.

use std::time::Duration;

use crate::event::Seen;

/// How long a finished page has been in the visible window before its pixels are first looked
/// at, then between looks, and how many blank looks in a row are "nothing painted". A normal
/// window paints within a frame or two of being shown; the span covers a busy machine's first
/// frame, and a false alarm would cost only a restart with safer settings.
pub const SETTLE: Duration = Duration::from_secs(2);
pub const INTERVAL: Duration = Duration::from_secs(1);
const LOOKS: u32 = 5;

/// One window's check.
#[derive(Debug, Default)]
pub struct PaintWatch {
    /// The window showed a page (or its pixels cannot be read): no more looks.
    done: bool,
    /// The page (`seq`) last looked at and how many looks in a row found it blank.
    blank: (u64, u32),
}

/// What to do after a look.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing: settled, or a page with nothing to judge (the next page is looked at anew).
    Stop,
    /// Look again after [`INTERVAL`].
    LookAgain,
    /// The renderer paints nothing: the window answers `rendering_failed` with this.
    NothingPainted(String),
}

impl PaintWatch {
    /// Whether looks are still wanted.
    pub fn open(&self) -> bool {
        !self.done
    }

    /// A look at the page `seq` found `seen`.
    pub fn seen(&mut self, seq: u64, seen: Seen) -> Next {
        if self.done {
            return Next::Stop;
        }
        let run = if self.blank.0 == seq { self.blank.1 } else { 0 };
        match seen {
            Seen::Painted => {
                tracing::info!("the sign-in window shows its page");
                self.done = true;
                Next::Stop
            }
            Seen::Unreadable(why) => {
                tracing::debug!("the window's pixels cannot be looked at: {why}");
                self.done = true;
                Next::Stop
            }
            Seen::EmptyPage => {
                self.blank = (seq, 0);
                Next::Stop
            }
            // A covered window's pixels are not its own: the run starts again.
            Seen::Obscured => {
                self.blank = (seq, 0);
                Next::LookAgain
            }
            Seen::Blank([r, g, b]) => {
                self.blank = (seq, run + 1);
                if run + 1 < LOOKS {
                    return Next::LookAgain;
                }
                Next::NothingPainted(format!(
                    "WebKit painted nothing in the sign-in window (one colour, \
                     #{r:02x}{g:02x}{b:02x}, over a page with text)"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREY: [u8; 3] = [246, 245, 244];

    #[test]
    fn five_blank_looks_in_a_row_over_one_page_are_nothing_painted() {
        let mut w = PaintWatch::default();
        for _ in 1..LOOKS {
            assert_eq!(w.seen(7, Seen::Blank(GREY)), Next::LookAgain);
        }
        assert_eq!(
            w.seen(7, Seen::Blank(GREY)),
            Next::NothingPainted(
                "WebKit painted nothing in the sign-in window (one colour, #f6f5f4, over a \
                 page with text)"
                    .into()
            )
        );
    }

    #[test]
    fn a_new_page_or_a_covered_look_starts_the_run_again() {
        let mut w = PaintWatch::default();
        for _ in 1..LOOKS {
            assert_eq!(w.seen(1, Seen::Blank(GREY)), Next::LookAgain);
        }
        assert_eq!(w.seen(2, Seen::Blank(GREY)), Next::LookAgain);
        assert_eq!(w.seen(2, Seen::Obscured), Next::LookAgain);
        for _ in 1..LOOKS {
            assert_eq!(w.seen(2, Seen::Blank(GREY)), Next::LookAgain);
        }
        assert_eq!(w.seen(2, Seen::EmptyPage), Next::Stop);
        assert_eq!(w.seen(2, Seen::Blank(GREY)), Next::LookAgain);
        assert!(w.open());
    }

    #[test]
    fn a_painted_or_unreadable_window_is_not_looked_at_again() {
        let mut w = PaintWatch::default();
        assert_eq!(w.seen(1, Seen::Painted), Next::Stop);
        assert!(!w.open());
        for _ in 0..LOOKS {
            assert_eq!(w.seen(1, Seen::Blank(GREY)), Next::Stop);
        }
        let mut w = PaintWatch::default();
        assert_eq!(w.seen(1, Seen::Unreadable("Wayland".into())), Next::Stop);
        assert!(!w.open());
    }
}
