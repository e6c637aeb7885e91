//! Chip specifications and the two numbers the rules classify by.

/// An accelerator chip, described by the data the 3A090 rules read.
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
    pub fn tpp(&self) -> f64 {
        self.dense_tops
            .iter()
            .map(|&(bits, tops)| tops * f64::from(bits))
            .fold(0.0, f64::max)
    }

    /// Performance density: TPP / applicable die area, when the area is
    /// known.
    pub fn performance_density(&self) -> Option<f64> {
        self.die_area_mm2.map(|area| self.tpp() / area)
    }
}
