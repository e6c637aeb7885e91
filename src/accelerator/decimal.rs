//! Exact decimals for the threshold comparisons.
//!
//! The thresholds of 88 FR 73458 and 87 FR 62186 (4800, 2400, 1600, 5.92,
//! 3.2, 1.6, 600) and the figures a policy gives are decimals, which binary
//! floating point mostly cannot hold: `212.6 × 8 / 531.5` is 3.2, "3.2 or
//! more" in 3A090.b.2, but 3.1999999999999997 in `f64`. So the rules compare
//! [`Decimal`]s, with integer arithmetic only.
//!
//! A figure arrives as an `f64` (the policy file is TOML, a [`ChipSpec`]
//! field is public). It is read as the shortest decimal that converts back
//! to the same `f64`, which for any literal of up to 15 significant digits
//! is the literal as written; longer literals already lost their tail when
//! they were parsed into an `f64`.
//!
//! [`ChipSpec`]: super::ChipSpec

use std::cmp::Ordering;

/// A non-negative decimal, `coef × 10^exp`, compared exactly.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decimal {
    coef: u128,
    exp: i32,
}

impl Decimal {
    pub(crate) const ZERO: Decimal = Decimal::new(0, 0);

    /// `coef × 10^exp`.
    pub(crate) const fn new(mut coef: u128, mut exp: i32) -> Self {
        if coef == 0 {
            exp = 0;
        }
        // Trailing zeros into the exponent, so products stay small.
        while coef != 0 && coef.is_multiple_of(10) && exp < i32::MAX {
            coef /= 10;
            exp += 1;
        }
        Self { coef, exp }
    }

    /// An integer.
    pub(crate) const fn int(n: u32) -> Self {
        Self::new(n as u128, 0)
    }

    /// The decimal `x` was written as: the shortest one that converts back
    /// to `x`. `None` for NaN, infinities and negative numbers.
    pub(crate) fn from_f64(x: f64) -> Option<Self> {
        if x == 0.0 {
            // Also -0.0, whose text has a sign.
            return Some(Self::ZERO);
        }
        if !x.is_finite() || x < 0.0 {
            return None;
        }
        // `{:e}` prints the shortest round-trip digits, e.g. `2.126e2`.
        Self::parse(&format!("{x:e}"))
    }

    /// Parses `123`, `0.25`, `2.126e2`, `5e-324`. `None` on anything else
    /// or when the digits do not fit.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (mantissa, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let digits = || int.chars().chain(frac.chars());
        let mut coef: u128 = 0;
        for c in digits() {
            coef = coef
                .checked_mul(10)?
                .checked_add(u128::from(c.to_digit(10)?))?;
        }
        let frac_len = i32::try_from(frac.len()).ok()?;
        Some(Self::new(coef, exp.checked_sub(frac_len)?))
    }

    /// `self × rhs`; `None` on overflow.
    pub(crate) fn checked_mul(self, rhs: Self) -> Option<Self> {
        let coef = self.coef.checked_mul(rhs.coef)?;
        if coef == 0 {
            return Some(Self::ZERO);
        }
        Some(Self::new(coef, self.exp.checked_add(rhs.exp)?))
    }

    /// The nearest `f64`, for display.
    pub(crate) fn to_f64(self) -> Option<f64> {
        format!("{}e{}", self.coef, self.exp).parse().ok()
    }

    /// `self / den` as an `f64`, for display: 38 significant digits of the
    /// quotient, then one rounding (not the two of `f64` arithmetic), so a
    /// quotient that is exactly 3.2 shows as 3.2. `None` when `den` is 0.
    pub(crate) fn ratio_to_f64(self, den: Self) -> Option<f64> {
        if den.coef == 0 {
            return None;
        }
        // Scale the numerator to 37 or more digits; it still fits in u128.
        let k = 37u32.saturating_sub(digits(self.coef));
        let num = self.coef.checked_mul(10u128.checked_pow(k)?)?;
        let (mut q, r) = (num / den.coef, num % den.coef);
        let mut exp = i64::from(self.exp) - i64::from(den.exp) - i64::from(k);
        // A non-zero remainder must not look like an exact tie between two
        // `f64`s: append a digit 1.
        if r != 0
            && let Some(sticky) = q.checked_mul(10).and_then(|q| q.checked_add(1))
        {
            q = sticky;
            exp -= 1;
        }
        format!("{q}e{exp}").parse().ok()
    }

    /// Decimal digits before the exponent: the value lies in
    /// `[10^(m-1), 10^m)`. Not meaningful for zero.
    fn magnitude(self) -> i64 {
        i64::from(self.exp) + i64::from(digits(self.coef))
    }
}

/// Digits of `n` (0 for 0).
fn digits(n: u128) -> u32 {
    n.checked_ilog10().map_or(0, |l| l + 1)
}

/// `a × 10^k` against `b` without computing the product, so it cannot
/// overflow.
fn cmp_scaled(a: u128, k: u32, b: u128) -> Ordering {
    let Some(p) = 10u128.checked_pow(k) else {
        // 10^k exceeds every u128.
        return if a == 0 { 0.cmp(&b) } else { Ordering::Greater };
    };
    let (q, r) = (b / p, b % p);
    a.cmp(&q).then(if r == 0 {
        Ordering::Equal
    } else {
        Ordering::Less
    })
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.coef, other.coef) {
            (0, 0) => return Ordering::Equal,
            (0, _) => return Ordering::Less,
            (_, 0) => return Ordering::Greater,
            _ => {}
        }
        match self.magnitude().cmp(&other.magnitude()) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        // Same magnitude, so the exponents differ by less than 40 and the
        // scaled coefficient has no more digits than the other one.
        let diff = i64::from(self.exp) - i64::from(other.exp);
        let k = |d: i64| u32::try_from(d).unwrap_or(u32::MAX);
        if diff >= 0 {
            cmp_scaled(self.coef, k(diff), other.coef)
        } else {
            cmp_scaled(other.coef, k(-diff), self.coef).reverse()
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn literals_read_as_written() {
        for (x, coef, exp) in [
            (212.6, 2126, -1),
            (531.5, 5315, -1),
            (5.92, 592, -2),
            (3.2, 32, -1),
            (1.6, 16, -1),
            (4800.0, 48, 2),
            (0.1 + 0.2, 30_000_000_000_000_004, -17),
            (123_456_789_012_345.6, 1_234_567_890_123_456, -1),
            (1e300, 1, 300),
            (5e-324, 5, -324),
            (0.0, 0, 0),
            (-0.0, 0, 0),
        ] {
            let got = Decimal::from_f64(x).unwrap();
            assert_eq!((got.coef, got.exp), (coef, exp), "{x}");
        }
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -5e-324] {
            assert_eq!(Decimal::from_f64(x), None, "{x}");
        }
    }

    #[test]
    fn parses() {
        assert_eq!(d("212.6"), Decimal::new(2126, -1));
        assert_eq!(d("0.000100"), Decimal::new(1, -4));
        assert_eq!(d("100"), Decimal::new(1, 2));
        assert_eq!(d(".5"), d("0.5"));
        assert_eq!(d("5."), d("5"));
        assert_eq!(d("2.126e2"), d("212.6"));
        assert_eq!(d("2126E-1"), d("212.6"));
        for bad in [
            "",
            ".",
            "e5",
            "1e",
            "-1",
            "+1",
            "1.2.3",
            "1_000",
            "1e99999999999",
            "x",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
        // 39 digits fit, 40 do not.
        assert!(Decimal::parse(&"9".repeat(38)).is_some());
        assert!(Decimal::parse(&"9".repeat(40)).is_none());
        // Trailing zeros cost nothing once normalised.
        assert_eq!(
            Decimal::from_f64(1e300).unwrap().checked_mul(d("5.92")),
            Some(Decimal::new(592, 298))
        );
    }

    #[test]
    fn compares_exactly() {
        use Ordering::*;
        for (a, b, want) in [
            ("3.2", "3.2", Equal),
            ("3.20", "3.2", Equal),
            ("1700.8", "1700.8000", Equal),
            ("3.1999999999999997", "3.2", Less),
            ("4800", "4799.999999", Greater),
            ("0", "0.000001", Less),
            ("0", "0", Equal),
            ("1e-300", "1e300", Less),
            ("999", "1000", Less),
            ("1000", "999.9999999999999999999999999999999999", Greater),
            ("0.1", "0.09999999999999999999999999999999999999", Greater),
        ] {
            assert_eq!(d(a).cmp(&d(b)), want, "{a} vs {b}");
            assert_eq!(d(b).cmp(&d(a)), want.reverse(), "{b} vs {a}");
        }
        // The largest coefficients, at the same magnitude.
        let max = Decimal::new(u128::MAX, 0);
        let max_less_one = Decimal::new(u128::MAX - 1, 0);
        assert!(max > max_less_one);
        assert_eq!(max.cmp(&max), Equal);
        assert!(Decimal::new(1, i32::MAX) > max);
        assert!(Decimal::new(1, i32::MIN) < Decimal::new(1, 0));
        assert!(Decimal::new(u128::MAX, i32::MIN) > Decimal::new(1, i32::MIN + 1));
    }

    #[test]
    fn products() {
        assert_eq!(d("212.6").checked_mul(Decimal::int(8)), Some(d("1700.8")));
        assert_eq!(d("3.2").checked_mul(d("531.5")), Some(d("1700.8")));
        assert_eq!(d("0").checked_mul(Decimal::new(1, i32::MAX)), Some(d("0")));
        assert_eq!(Decimal::new(u128::MAX, 0).checked_mul(d("3")), None);
        assert_eq!(Decimal::new(3, i32::MAX).checked_mul(d("30")), None);
    }

    #[test]
    fn floats_for_display() {
        assert_eq!(d("1700.8").to_f64(), Some(1700.8));
        assert_eq!(d("1700.8").ratio_to_f64(d("531.5")), Some(3.2));
        assert_eq!(d("2054.24").ratio_to_f64(d("347")), Some(5.92));
        assert_eq!(d("1").ratio_to_f64(d("3")), Some(1.0 / 3.0));
        assert_eq!(d("2").ratio_to_f64(d("3")), Some(2.0 / 3.0));
        assert_eq!(d("0").ratio_to_f64(d("3")), Some(0.0));
        assert_eq!(d("1").ratio_to_f64(d("0")), None);
        let huge = Decimal::new(u128::MAX, 0);
        assert_eq!(huge.ratio_to_f64(huge), Some(1.0));
    }
}
