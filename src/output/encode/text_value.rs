//! A record value as the text formats see it. JSON and CSV write the same
//! kinds of value (numbers, plain words, free text, addresses) and differ
//! only in quoting and in how absent and fractional values look, so each
//! type says once what it is, and each format says once how to write that.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::record::{ShortName, TcpState, Tier};

/// One present value, ready to be written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Text<'a> {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    /// A plain ASCII name (state, tier): never escaped, never quoted.
    Word(&'static str),
    /// Free text (congestion control, command): escaped or quoted as the
    /// format requires.
    Str(&'a str),
    /// `ip:port`, IPv6 as `[ip%scope]:port`.
    Addr(&'a SocketAddr),
}

/// What kind of [`Text`] a type gives, known without a value: the formats
/// bound a record's length from it before writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Unsigned,
    Signed,
    Float,
    Word,
    /// Free text of at most `fixed` bytes plus [`TextValue::text_len`].
    Str {
        fixed: usize,
    },
    Addr,
}

/// A value JSON and CSV can write.
pub(crate) trait TextValue {
    const SHAPE: Shape;

    /// Bytes of free text beyond `Shape::Str`'s `fixed` (a command line).
    #[inline(always)]
    fn text_len(&self) -> usize {
        0
    }

    /// The value, `None` when absent.
    fn text(&self) -> Option<Text<'_>>;
}

impl<T: TextValue> TextValue for Option<T> {
    const SHAPE: Shape = T::SHAPE;

    #[inline(always)]
    fn text_len(&self) -> usize {
        self.as_ref().map_or(0, T::text_len)
    }

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        self.as_ref().and_then(T::text)
    }
}

macro_rules! unsigned_text {
    ($($t:ty),*) => {$(
        impl TextValue for $t {
            const SHAPE: Shape = Shape::Unsigned;

            #[inline(always)]
            fn text(&self) -> Option<Text<'_>> {
                Some(Text::Unsigned(u64::from(*self)))
            }
        }
    )*};
}
unsigned_text!(u8, u32, u64);

impl TextValue for i32 {
    const SHAPE: Shape = Shape::Signed;

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        Some(Text::Signed(i64::from(*self)))
    }
}

impl TextValue for f64 {
    const SHAPE: Shape = Shape::Float;

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        Some(Text::Float(*self))
    }
}

impl TextValue for TcpState {
    const SHAPE: Shape = Shape::Word;

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        Some(Text::Word(self.name()))
    }
}

impl TextValue for Tier {
    const SHAPE: Shape = Shape::Word;

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        Some(Text::Word(self.name()))
    }
}

impl TextValue for ShortName {
    const SHAPE: Shape = Shape::Str {
        fixed: ShortName::CAPACITY,
    };

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        Some(Text::Str(self.as_str()))
    }
}

impl TextValue for Arc<str> {
    const SHAPE: Shape = Shape::Str { fixed: 0 };

    #[inline(always)]
    fn text_len(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        Some(Text::Str(self))
    }
}

impl TextValue for SocketAddr {
    const SHAPE: Shape = Shape::Addr;

    #[inline(always)]
    fn text(&self) -> Option<Text<'_>> {
        Some(Text::Addr(self))
    }
}

/// Longest state or tier name, with room to spare (`SYN_RECEIVED`).
pub(crate) const WORD_MAX_LEN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_tier_name_fits_a_word() {
        for s in TcpState::ALL {
            assert!(s.name().len() <= WORD_MAX_LEN);
            assert!(
                s.name()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            );
        }
        for t in Tier::ALL {
            assert!(t.name().len() <= WORD_MAX_LEN);
            assert!(
                t.name()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            );
        }
    }

    #[test]
    fn absent_is_none_and_length_follows_the_text() {
        let cmd: Option<Arc<str>> = Some(Arc::from("nginx"));
        assert_eq!(cmd.text_len(), 5);
        assert!(None::<Arc<str>>.text().is_none());
        assert!(matches!(Some(7u32).text(), Some(Text::Unsigned(7))));
        assert!(matches!((-3i32).text(), Some(Text::Signed(-3))));
    }
}
