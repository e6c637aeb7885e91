//! Chip specifications and the two numbers the rules classify by.

use super::decimal::Decimal;

/// An accelerator chip, described by the data the 3A090 rules read.
///
/// The regimes read each figure as the decimal it was written as (the
/// shortest decimal that converts back to the same `f64`) and compare it
/// with the thresholds exactly; see [`Regime`](super::Regime).
#[derive(Clone, Debug, PartialEq)]
pub struct ChipSpec {
    /// The catalog name, e.g. `H100-SXM`.
    pub name: String,
    /// The vendor, e.g. `NVIDIA` (informational).
    pub vendor: String,
    /// Whether the chip is designed or marketed for use in datacenters
    /// (Note 2 to 3A090 exempts other chips below TPP 4800).
    pub datacenter: bool,
    /// Peak dense (no sparsity) tera-operations per second by bit length,
    /// e.g. `(8, 1979.0)` and `(16, 989.5)`.
    pub dense_tops: Vec<(u32, f64)>,
    /// Area in mm² of the logic dies on non-planar (FinFET/GAA) nodes;
    /// `None` when not known, which the regimes treat conservatively.
    pub die_area_mm2: Option<f64>,
    /// Aggregate bidirectional interconnect rate in GB/s; `None` when not
    /// known, which the regimes treat conservatively.
    pub interconnect_gbps: Option<f64>,
}

impl ChipSpec {
    /// Total processing performance: the highest dense TOPS × bit length
    /// over the bit lengths the chip supports (88 FR 73458, Technical Note
    /// to 3A090: TPP = 2 × MacTOPS × bit length, highest evaluated).
    ///
    /// The `f64` nearest the exact value, for display; the class comes from
    /// exact comparisons.
    pub fn tpp(&self) -> f64 {
        self.exact_tpp()
            .and_then(Decimal::to_f64)
            .unwrap_or_else(|| self.float_tpp())
    }

    /// Performance density: TPP / applicable die area, when the area is
    /// known. The `f64` nearest the exact quotient, for display.
    pub fn performance_density(&self) -> Option<f64> {
        let area = self.die_area_mm2?;
        let exact = self
            .exact_tpp()
            .zip(Decimal::from_f64(area))
            .and_then(|(tpp, area)| tpp.ratio_to_f64(area));
        Some(exact.unwrap_or_else(|| self.float_tpp() / area))
    }

    fn float_tpp(&self) -> f64 {
        self.dense_tops
            .iter()
            .map(|&(bits, tops)| tops * f64::from(bits))
            .fold(0.0, f64::max)
    }

    /// TPP as an exact decimal. `None` when a TOPS figure is not a finite,
    /// non-negative number or a product overflows; the regimes then take
    /// TPP to meet every threshold.
    pub(crate) fn exact_tpp(&self) -> Option<Decimal> {
        let mut tpp = Decimal::ZERO;
        for &(bits, tops) in &self.dense_tops {
            let product = Decimal::from_f64(tops)?.checked_mul(Decimal::int(bits))?;
            tpp = tpp.max(product);
        }
        Some(tpp)
    }

    /// The die area as an exact decimal, when it is a finite positive
    /// number; anything else counts as unknown.
    pub(crate) fn exact_die_area(&self) -> Option<Decimal> {
        self.die_area_mm2
            .and_then(Decimal::from_f64)
            .filter(|&area| area > Decimal::ZERO)
    }

    /// The interconnect rate as an exact decimal, when it is a finite
    /// non-negative number; anything else counts as unknown.
    pub(crate) fn exact_interconnect(&self) -> Option<Decimal> {
        self.interconnect_gbps.and_then(Decimal::from_f64)
    }
}
