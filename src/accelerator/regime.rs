//! Classification regimes: the thresholds of one version of the rule, as
//! data, plus the function that applies them.
//!
//! Adding a regime means adding one constant here and listing it in
//! [`Regime::ALL`]; nothing else reads the thresholds.

use std::fmt;

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

    /// The class of `chip` under this regime.
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

/// 3A090 thresholds of 88 FR 73458 (Oct. 25, 2023): ECCN 3A090.a and .b in
/// 15 CFR part 774, Supplement No. 1 (Commerce Control List), Category 3.
mod ear_2023 {
    /// 3A090.a.1: TPP ≥ 4800.
    pub(super) const A1_TPP: f64 = 4800.0;
    /// 3A090.a.2: TPP ≥ 1600 and PD ≥ 5.92.
    pub(super) const A2_TPP: f64 = 1600.0;
    pub(super) const A2_PD: f64 = 5.92;
    /// 3A090.b.1: 2400 ≤ TPP < 4800 and 1.6 ≤ PD < 5.92.
    pub(super) const B1_TPP: f64 = 2400.0;
    pub(super) const B1_PD: f64 = 1.6;
    /// 3A090.b.2: TPP ≥ 1600 and 3.2 ≤ PD < 5.92.
    pub(super) const B2_TPP: f64 = 1600.0;
    pub(super) const B2_PD: f64 = 3.2;
    /// Note 2: chips not designed or marketed for datacenters are outside
    /// 3A090 below this TPP.
    pub(super) const CONSUMER_TPP: f64 = 4800.0;
}

fn classify_2023(chip: &ChipSpec) -> AcceleratorClass {
    use ear_2023::*;
    let tpp = chip.tpp();
    if !chip.datacenter {
        // Note 2: PD does not matter for consumer parts.
        return if tpp >= CONSUMER_TPP {
            AcceleratorClass::Eccn3A090a
        } else {
            AcceleratorClass::BelowThreshold
        };
    }
    // Unknown die area: assume the densest case, so the class can only be
    // over-, never under-estimated.
    let pd = chip.performance_density().unwrap_or(f64::INFINITY);
    if tpp >= A1_TPP || (tpp >= A2_TPP && pd >= A2_PD) {
        AcceleratorClass::Eccn3A090a
    } else if ((B1_TPP..A1_TPP).contains(&tpp) && (B1_PD..A2_PD).contains(&pd))
        || (tpp >= B2_TPP && (B2_PD..A2_PD).contains(&pd))
    {
        AcceleratorClass::Eccn3A090b
    } else {
        AcceleratorClass::BelowThreshold
    }
}

/// 3A090 thresholds of 87 FR 62186 (Oct. 13, 2022), which 88 FR 73458
/// replaced.
mod ear_2022 {
    /// 3A090.a: TPP ≥ 4800 and interconnect ≥ 600 GB/s.
    pub(super) const TPP: f64 = 4800.0;
    pub(super) const INTERCONNECT_GBPS: f64 = 600.0;
}

fn classify_2022(chip: &ChipSpec) -> AcceleratorClass {
    use ear_2022::*;
    // Unknown interconnect: assume it meets the threshold (fail closed).
    let interconnect = chip.interconnect_gbps.unwrap_or(f64::INFINITY);
    if chip.tpp() >= TPP && interconnect >= INTERCONNECT_GBPS {
        AcceleratorClass::Eccn3A090a
    } else {
        AcceleratorClass::BelowThreshold
    }
}
