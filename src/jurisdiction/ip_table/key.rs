//! Integer address keys shared by the build and lookup code.

/// An unsigned integer used as an address or address-prefix key.
pub(super) trait Key: Copy + Ord + Default {
    /// The largest key; pads partly filled tree nodes.
    const MAX: Self;

    /// The next key, or `None` after [`Key::MAX`].
    fn successor(self) -> Option<Self>;

    /// `end - start`, the size of an inclusive range minus one.
    fn span(start: Self, end: Self) -> u128;
}

macro_rules! impl_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            const MAX: Self = <$t>::MAX;

            fn successor(self) -> Option<Self> {
                self.checked_add(1)
            }

            fn span(start: Self, end: Self) -> u128 {
                u128::from(end.saturating_sub(start))
            }
        }
    )*};
}

impl_key!(u32, u64, u128);
