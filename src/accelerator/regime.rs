//! Classification regimes: the thresholds of one version of the rule, as
//! data, plus the function that applies them.
//!
//! Adding a regime means adding one constant here and listing it in
//! [`Regime::ALL`]; nothing else reads the thresholds.
//!
//! The thresholds are applied exactly: each figure is read as the decimal
//! it was written as (the shortest decimal that converts back to its
//! `f64`) and compared with integer arithmetic, PD ≥ t as TPP ≥ t × area,
//! so a chip exactly on a threshold ("or more") is in the stronger class.
//! Where a figure is missing or unusable (not a finite, non-negative
//! number; a die area of zero) or the arithmetic would overflow, the test
//! counts as met, which can only raise the class.

use std::fmt;

use super::decimal::Decimal;
use super::{AcceleratorClass, ChipSpec};

/// One version of the 3A090 classification rule.
#[derive(Clone, Copy)]
pub struct Regime {
    name: &'static str,
    citation: &'static str,
    classify: fn(&ChipSpec) -> AcceleratorClass,
}

impl Regime {
    /// `ear-2023-10`: 88 FR 73458 (AC/S IFR), effective 2023-11-17. The
    /// default.
    pub const EAR_2023_10: Regime = Regime {
        name: "ear-2023-10",
        citation: "88 FR 73458, effective 2023-11-17",
        classify: classify_2023,
    };

    /// `ear-2022-10`: 87 FR 62186, superseded on 2023-11-17.
    pub const EAR_2022_10: Regime = Regime {
        name: "ear-2022-10",
        citation: "87 FR 62186, effective 2022-10-21",
        classify: classify_2022,
    };

    /// Every regime this crate knows, the default first.
    pub const ALL: [Regime; 2] = [Self::EAR_2023_10, Self::EAR_2022_10];

    /// Looks a regime up by name.
    pub fn by_name(name: &str) -> Option<Regime> {
        Self::ALL.into_iter().find(|r| r.name == name)
    }

    /// The regime's name as policies spell it.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The Federal Register citation.
    pub const fn citation(&self) -> &'static str {
        self.citation
    }

    /// The class of `chip` under this regime, from exact comparisons of
    /// its figures, each read as the shortest decimal that converts back to
    /// its `f64` (the literal as written, up to 15 significant digits). A
    /// figure that is missing or not a usable number (NaN, infinite,
    /// negative; a zero die area) counts as meeting its threshold.
    pub fn classify(&self, chip: &ChipSpec) -> AcceleratorClass {
        (self.classify)(chip)
    }
}

impl Default for Regime {
    fn default() -> Self {
        Self::EAR_2023_10
    }
}

impl fmt::Debug for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Regime {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// A chip's figures as exact decimals, and the threshold tests on them.
///
/// Every test is "figure ≥ threshold" and answers `true` when the figure is
/// unknown or the arithmetic overflows: a class can only be raised by what
/// cannot be computed, never lowered.
struct Figures {
    /// `None`: unknown, taken to meet every threshold.
    tpp: Option<Decimal>,
    /// `None`: unknown, read as the densest case.
    die_area: Option<Decimal>,
    /// `None`: unknown, taken to meet the threshold (fail closed).
    interconnect: Option<Decimal>,
}

impl Figures {
    fn of(chip: &ChipSpec) -> Self {
        Self {
            tpp: chip.exact_tpp(),
            die_area: chip.exact_die_area(),
            interconnect: chip.exact_interconnect(),
        }
    }

    fn tpp_at_least(&self, threshold: Decimal) -> bool {
        self.tpp.is_none_or(|tpp| tpp >= threshold)
    }

    /// PD ≥ `threshold`, tested as TPP ≥ `threshold` × area (area > 0), so
    /// nothing is divided or rounded.
    fn pd_at_least(&self, threshold: Decimal) -> bool {
        match (self.tpp, self.die_area) {
            (Some(tpp), Some(area)) => threshold.checked_mul(area).is_none_or(|bound| tpp >= bound),
            _ => true,
        }
    }

    fn interconnect_at_least(&self, threshold: Decimal) -> bool {
        self.interconnect.is_none_or(|gbps| gbps >= threshold)
    }
}

/// 3A090 thresholds of 88 FR 73458 (Oct. 25, 2023): ECCN 3A090.a and .b in
/// 15 CFR part 774, Supplement No. 1 (Commerce Control List), Category 3.
mod ear_2023 {
    use super::Decimal;

    /// 3A090.a.1: TPP ≥ 4800.
    pub(super) const A1_TPP: Decimal = Decimal::new(4800, 0);
    /// 3A090.a.2: TPP ≥ 1600 and PD ≥ 5.92.
    pub(super) const A2_TPP: Decimal = Decimal::new(1600, 0);
    pub(super) const A2_PD: Decimal = Decimal::new(592, -2);
    /// 3A090.b.1: 2400 ≤ TPP < 4800 and 1.6 ≤ PD < 5.92.
    pub(super) const B1_TPP: Decimal = Decimal::new(2400, 0);
    pub(super) const B1_PD: Decimal = Decimal::new(16, -1);
    /// 3A090.b.2: TPP ≥ 1600 and 3.2 ≤ PD < 5.92.
    pub(super) const B2_TPP: Decimal = Decimal::new(1600, 0);
    pub(super) const B2_PD: Decimal = Decimal::new(32, -1);
    /// Note 2: chips not designed or marketed for datacenters are outside
    /// 3A090 below this TPP.
    pub(super) const CONSUMER_TPP: Decimal = Decimal::new(4800, 0);
}

fn classify_2023(chip: &ChipSpec) -> AcceleratorClass {
    use ear_2023::*;
    let f = Figures::of(chip);
    if !chip.datacenter {
        // Note 2: PD does not matter for consumer parts.
        return if f.tpp_at_least(CONSUMER_TPP) {
            AcceleratorClass::Eccn3A090a
        } else {
            AcceleratorClass::BelowThreshold
        };
    }
    if f.tpp_at_least(A1_TPP) || (f.tpp_at_least(A2_TPP) && f.pd_at_least(A2_PD)) {
        AcceleratorClass::Eccn3A090a
    } else if (f.tpp_at_least(B1_TPP) && f.pd_at_least(B1_PD))
        || (f.tpp_at_least(B2_TPP) && f.pd_at_least(B2_PD))
    {
        // The upper bounds of b.1 and b.2 (TPP < 4800, PD < 5.92) hold here:
        // a chip past them is 3A090.a above.
        AcceleratorClass::Eccn3A090b
    } else {
        AcceleratorClass::BelowThreshold
    }
}

/// 3A090 thresholds of 87 FR 62186 (Oct. 13, 2022), which 88 FR 73458
/// replaced.
mod ear_2022 {
    use super::Decimal;

    /// 3A090.a: TPP ≥ 4800 and interconnect ≥ 600 GB/s.
    pub(super) const TPP: Decimal = Decimal::new(4800, 0);
    pub(super) const INTERCONNECT_GBPS: Decimal = Decimal::new(600, 0);
}

fn classify_2022(chip: &ChipSpec) -> AcceleratorClass {
    use ear_2022::*;
    let f = Figures::of(chip);
    if f.tpp_at_least(TPP) && f.interconnect_at_least(INTERCONNECT_GBPS) {
        AcceleratorClass::Eccn3A090a
    } else {
        AcceleratorClass::BelowThreshold
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn thresholds_are_the_literals() {
        use ear_2022::*;
        use ear_2023::*;
        for (got, literal) in [
            (A1_TPP, 4800.0),
            (A2_TPP, 1600.0),
            (A2_PD, 5.92),
            (B1_TPP, 2400.0),
            (B1_PD, 1.6),
            (B2_TPP, 1600.0),
            (B2_PD, 3.2),
            (CONSUMER_TPP, 4800.0),
            (TPP, 4800.0),
            (INTERCONNECT_GBPS, 600.0),
        ] {
            assert_eq!(Some(got), Decimal::from_f64(literal), "{literal}");
        }
    }

    fn chip(tops: f64, area: Option<f64>, interconnect: Option<f64>) -> ChipSpec {
        ChipSpec {
            name: "x".into(),
            vendor: String::new(),
            datacenter: true,
            dense_tops: vec![(8, tops)],
            die_area_mm2: area,
            interconnect_gbps: interconnect,
        }
    }

    #[test]
    fn unusable_figures_only_raise_the_class() {
        use AcceleratorClass::{BelowThreshold, Eccn3A090a};
        let (y23, y22) = (Regime::EAR_2023_10, Regime::EAR_2022_10);
        // TOPS that cannot be read: TPP meets every threshold.
        for tops in [f64::NAN, f64::INFINITY, -1.0] {
            let mut c = chip(tops, Some(1000.0), Some(100.0));
            assert_eq!(y23.classify(&c), Eccn3A090a, "{tops}");
            c.datacenter = false;
            assert_eq!(y23.classify(&c), Eccn3A090a, "{tops}");
            c.interconnect_gbps = Some(600.0);
            assert_eq!(y22.classify(&c), Eccn3A090a, "{tops}");
        }
        // A die area that cannot be used: the densest case. TPP 2000 with
        // area 1000 (PD 2) would be below-threshold.
        assert_eq!(
            y23.classify(&chip(250.0, Some(1000.0), None)),
            BelowThreshold
        );
        for area in [f64::NAN, f64::INFINITY, 0.0, -0.0, -5.0] {
            let c = chip(250.0, Some(area), None);
            assert_eq!(y23.classify(&c), Eccn3A090a, "{area}");
        }
        // An interconnect rate that cannot be read meets 600 GB/s.
        assert_eq!(y22.classify(&chip(600.0, None, Some(0.0))), BelowThreshold);
        for ic in [f64::NAN, f64::INFINITY, -600.0] {
            let c = chip(600.0, None, Some(ic));
            assert_eq!(y22.classify(&c), Eccn3A090a, "{ic}");
        }
    }

    #[test]
    fn overflow_counts_as_met() {
        let huge = Decimal::new(u128::MAX, 0);
        let f = Figures {
            tpp: Some(Decimal::int(1)),
            die_area: Some(huge),
            interconnect: Some(Decimal::ZERO),
        };
        // 5.92 × area overflows: PD is taken to be at least 5.92.
        assert!(f.pd_at_least(ear_2023::A2_PD));
        // Without overflow the same figures are far below.
        let f = Figures {
            die_area: Some(Decimal::int(1000)),
            ..f
        };
        assert!(!f.pd_at_least(ear_2023::B1_PD));
        assert!(!f.tpp_at_least(ear_2023::A2_TPP));
        assert!(!f.interconnect_at_least(ear_2022::INTERCONNECT_GBPS));
        // TOPS × bit length cannot overflow: at most 17 × 10 digits.
        let c = ChipSpec {
            dense_tops: vec![(u32::MAX, f64::MAX)],
            ..chip(1.0, Some(1e300), Some(0.0))
        };
        assert!(c.exact_tpp().is_some());
        assert_eq!(
            Regime::EAR_2023_10.classify(&c),
            AcceleratorClass::Eccn3A090a
        );
    }
}
