//! Classification: TPP, PD and the class of every chip in the default
//! catalog under both regimes, every threshold at and around its boundary
//! (with binary and with decimal figures, and against exact arithmetic on
//! random figures), and instance-type lookups.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use proptest::prelude::*;
use tower_export_control::accelerator::{Catalog, ChipSpec, InstanceSpec, Regime};
use tower_export_control::{AcceleratorClass as Class, Policy};

const A: Class = Class::Eccn3A090a;
const B: Class = Class::Eccn3A090b;
const BELOW: Class = Class::BelowThreshold;
const NONE: Class = Class::None;

// ---------------------------------------------------------------------------
// The default catalog, chip by chip
// ---------------------------------------------------------------------------

/// A chip with its TPP and PD worked out by hand from the vendor's datasheet
/// figures (named in the chip's comment in `policies/default.toml`), and its
/// class under each regime.
struct ChipRow {
    name: &'static str,
    /// TPP, worked out by hand.
    tpp: f64,
    /// PD, worked out by hand, with the tolerance its precision allows;
    /// `None` where the die area is unknown.
    pd: Option<(f64, f64)>,
    /// Class under `ear-2023-10`.
    class_2023: Class,
    /// Class under `ear-2022-10` (TPP ≥ 4800 and interconnect ≥ 600 GB/s).
    class_2022: Class,
}

const fn row(
    name: &'static str,
    tpp: f64,
    pd: Option<(f64, f64)>,
    class_2023: Class,
    class_2022: Class,
) -> ChipRow {
    ChipRow {
        name,
        tpp,
        pd,
        class_2023,
        class_2022,
    }
}

/// PD worked out to two decimals.
const fn pd2(v: f64) -> Option<(f64, f64)> {
    Some((v, 0.01))
}

/// PD worked out to one decimal (the die area is an estimate).
const fn pd1(v: f64) -> Option<(f64, f64)> {
    Some((v, 0.1))
}

/// Every chip whose class its vendor's datasheet figures settle, plus the
/// two (Trainium, Inferentia2) the default policy classifies conservatively.
const CHIPS: &[ChipRow] = &[
    row("H100-SXM", 15_832.0, pd2(19.45), A, A),
    row("H100-PCIe", 12_104.0, pd2(14.87), A, A),
    // FP8 1,670.5 × 8 gives 13,364; FP16 835.5 × 16 = 13,368 is the
    // maximum. Both are within the tolerance.
    row("H100-NVL", 13_364.0, pd2(16.42), A, A),
    row("H200-SXM", 15_832.0, pd2(19.45), A, A),
    // H800: NVLink 400 GB/s < 600, so outside the 2022 rule.
    row("H800-SXM", 15_832.0, pd2(19.45), A, BELOW),
    row("H800-PCIe", 12_104.0, pd2(14.87), A, BELOW),
    // H20: TPP 2368 < 2400 and PD 2.91 < 3.2: outside 3A090 in both.
    row("H20", 2_368.0, pd2(2.91), BELOW, BELOW),
    row("A100-SXM", 4_992.0, pd2(6.04), A, A),
    row("A100-PCIe", 4_992.0, pd2(6.04), A, A),
    // A800: 400 GB/s, outside the 2022 rule.
    row("A800", 4_992.0, pd2(6.04), A, BELOW),
    // L40S: TPP ≥ 4800 but PCIe only (64 GB/s): outside the 2022 rule.
    row("L40S", 5_864.0, pd2(9.64), A, BELOW),
    // L40: 3A090.b.1 (BF16 gives 2,896.8).
    row("L40", 2_896.8, pd2(4.76), B, BELOW),
    // L4: TPP 1940 < 4800 but PD 6.59 ≥ 5.92: 3A090.a.2.
    row("L4", 1_940.0, pd2(6.59), A, BELOW),
    // A10: PD 3.18, just under 3.2; TPP 2000 < 2400.
    row("A10", 2_000.0, pd2(3.18), BELOW, BELOW),
    row("T4", 1_040.0, pd2(1.91), BELOW, BELOW),
    row("V100-SXM2", 2_000.0, pd2(2.45), BELOW, BELOW),
    row("V100-PCIe", 1_792.0, pd2(2.20), BELOW, BELOW),
    row("B200", 36_000.0, pd1(22.1), A, A),
    // Consumer: TPP 5,285 ≥ 4800, so Note 2 does not help; PCIe only, so
    // outside the 2022 rule.
    row("RTX-4090", 5_285.0, pd2(8.68), A, BELOW),
    // Consumer with TPP 4,707 < 4800: Note 2 takes it out of 3A090.
    row("RTX-4090D", 4_707.0, pd2(7.74), BELOW, BELOW),
    row("MI300X", 20_919.0, pd1(20.6), A, A),
    row("MI250X", 6_128.0, pd1(3.9), A, A),
    row("MI210", 2_896.0, pd1(3.7), B, BELOW),
    // Gaudi: die area unknown.
    row("Gaudi2", 6_920.0, None, A, A),
    row("Gaudi3", 29_360.0, None, A, A),
    row("Trainium2", 10_672.0, None, A, A),
    // Trainium / Inferentia2: the published figures leave the class open;
    // the default policy counts TF32 at 32 bits (TPP 6,080) and reads the
    // missing die area as densest: 3A090.a. Inferentia2's 384 GB/s keeps it
    // outside the 2022 rule; Trainium's 768 GB/s does not.
    row("Trainium", 6_080.0, None, A, A),
    row("Inferentia2", 6_080.0, None, A, BELOW),
];

#[test]
fn default_catalog_chips_match_the_facts() {
    let policy = Policy::embedded_default();
    let catalog = policy.catalog();
    assert_eq!(catalog.regime(), Regime::EAR_2023_10);
    assert!(CHIPS.len() >= 20);
    for r in CHIPS {
        let chip = catalog
            .chip(r.name)
            .unwrap_or_else(|| panic!("{} missing from the default catalog", r.name));
        let tpp = chip.tpp();
        assert!(
            (tpp - r.tpp).abs() <= r.tpp * 0.001,
            "{}: TPP {tpp}, facts {}",
            r.name,
            r.tpp
        );
        assert_eq!(tpp, chip.spec().tpp(), "{}: Chip::tpp", r.name);
        match (chip.performance_density(), r.pd) {
            (Some(pd), Some((want, tol))) => assert!(
                (pd - want).abs() <= tol,
                "{}: PD {pd}, facts {want}",
                r.name
            ),
            (None, None) => {}
            (got, want) => panic!("{}: PD {got:?}, facts {want:?}", r.name),
        }
        assert_eq!(chip.class(), r.class_2023, "{} under ear-2023-10", r.name);
        assert_eq!(
            Regime::EAR_2023_10.classify(chip.spec()),
            r.class_2023,
            "{}: Regime::classify",
            r.name
        );
    }
}

#[test]
fn default_catalog_chips_under_the_2022_rule() {
    let policy = Policy::embedded_default();
    let catalog = policy.catalog().with_regime(Regime::EAR_2022_10);
    assert_eq!(catalog.regime(), Regime::EAR_2022_10);
    for r in CHIPS {
        let chip = catalog.chip(r.name).unwrap();
        assert_eq!(chip.class(), r.class_2022, "{} under ear-2022-10", r.name);
        // TPP and PD do not depend on the regime.
        let same = policy.catalog().chip(r.name).unwrap();
        assert_eq!(chip.tpp(), same.tpp(), "{}", r.name);
        assert_eq!(chip.performance_density(), same.performance_density());
    }
    // Going back gives the 2023 classes again.
    let back = catalog.with_regime(Regime::EAR_2023_10);
    for r in CHIPS {
        assert_eq!(
            back.chip(r.name).unwrap().class(),
            r.class_2023,
            "{}",
            r.name
        );
    }
}

#[test]
fn h800_and_a800_change_class_between_the_rules() {
    // The same answer through a policy that names the 2022 regime.
    let text = default_text_with_regime("ear-2022-10");
    let p2022 = Policy::from_toml(&text, "2022.toml", None).unwrap();
    let p2023 = Policy::embedded_default();
    assert_eq!(p2022.regime(), Regime::EAR_2022_10);
    for name in ["H800-SXM", "H800-PCIe", "A800"] {
        let chip = p2022.catalog().chip(name).unwrap();
        assert!(chip.spec().interconnect_gbps.unwrap() < 600.0);
        assert!(chip.tpp() >= 4800.0);
        assert_eq!(chip.class(), BELOW, "{name} in 2022");
        assert_eq!(
            p2023.catalog().chip(name).unwrap().class(),
            A,
            "{name} in 2023"
        );
    }
    for r in CHIPS {
        assert_eq!(
            p2022.catalog().chip(r.name).unwrap().class(),
            r.class_2022,
            "{}",
            r.name
        );
    }
}

/// The default policy's text with another `regime`.
fn default_text_with_regime(regime: &str) -> String {
    let text = tower_export_control::policy::DEFAULT_POLICY_TOML;
    let from = "regime = \"ear-2023-10\"";
    assert_eq!(text.matches(from).count(), 1);
    text.replace(from, &format!("regime = \"{regime}\""))
}

#[test]
fn edge_cases_the_facts_list() {
    let policy = Policy::embedded_default();
    let c = |n: &str| policy.catalog().chip(n).unwrap();

    // A10: PD 3.18, just under b.2's 3.2; TPP 2000 under b.1's 2400.
    let a10 = c("A10");
    let pd = a10.performance_density().unwrap();
    assert!(pd < 3.2 && pd > 3.17, "A10 PD {pd}");
    assert!(a10.tpp() < 2400.0);
    assert_eq!(a10.class(), BELOW);

    // H20: TPP 2368 < 2400 (not b.1), PD 2.91 < 3.2 (not b.2).
    let h20 = c("H20");
    assert!(h20.tpp() < 2400.0 && h20.tpp() >= 1600.0);
    assert!(h20.performance_density().unwrap() < 3.2);
    assert_eq!(h20.class(), BELOW);

    // L4: by PD alone (a.2): TPP < 4800 and < 2400, PD ≥ 5.92.
    let l4 = c("L4");
    assert!(l4.tpp() < 2400.0 && l4.tpp() >= 1600.0);
    assert!(l4.performance_density().unwrap() >= 5.92);
    assert_eq!(l4.class(), A);

    // RTX 4090 vs 4090D: both consumer; Note 2 at TPP 4800.
    let (rtx, rtxd) = (c("RTX-4090"), c("RTX-4090D"));
    assert!(!rtx.spec().datacenter && !rtxd.spec().datacenter);
    assert!(rtx.tpp() >= 4800.0 && rtxd.tpp() < 4800.0);
    assert_eq!(rtx.class(), A);
    assert_eq!(rtxd.class(), BELOW);
    // A datacenter part with the 4090D's figures would be 3A090.a (a.2).
    let mut dc = rtxd.spec().clone();
    dc.datacenter = true;
    assert_eq!(Regime::EAR_2023_10.classify(&dc), A);

    // H100 vs H20: same die, different TPP.
    let h100 = c("H100-SXM");
    assert_eq!(h100.spec().die_area_mm2, h20.spec().die_area_mm2);
    assert_eq!(h100.class(), A);
    assert_eq!(h20.class(), BELOW);

    // Trainium / Inferentia2: TF32 counted at 32 bits and no die area, so
    // conservative 3A090.a; without the TF32 entry TPP is 3,040, and with an
    // unknown area that is still 3A090.a (a.2, densest case).
    for name in ["Trainium", "Inferentia2"] {
        let chip = c(name);
        assert_eq!(chip.spec().die_area_mm2, None);
        assert_eq!(chip.performance_density(), None);
        assert_eq!(chip.class(), A, "{name}");
        let mut no_tf32 = chip.spec().clone();
        no_tf32.dense_tops.retain(|(bits, _)| *bits != 32);
        assert_eq!(no_tf32.tpp(), 3040.0);
        assert_eq!(Regime::EAR_2023_10.classify(&no_tf32), A, "{name}");
        // With a large enough die it would be 3A090.b (b.1): PD 3040/1000.
        no_tf32.die_area_mm2 = Some(1000.0);
        assert_eq!(Regime::EAR_2023_10.classify(&no_tf32), B, "{name}");
    }
}

// ---------------------------------------------------------------------------
// Thresholds at, just below and just above their boundaries
// ---------------------------------------------------------------------------
//
// Exactness. TPP is `tops × bits`; multiplying by a power of two (8) is
// exact, so a chip with 8-bit TOPS `t / 8` has TPP exactly `t`, and
// `(t / 8).next_up() × 8 == t.next_up()`: the nudged TPP is the neighbouring
// double of the threshold, the smallest possible step. PD is `TPP / area`;
// with a power-of-two area (256, 512, 1024, 2048, 4096) the division is
// exact too, so TPP = `pd × area` gives PD exactly `pd` (the same double as
// the threshold literal), and nudging TPP by one ulp nudges PD by one ulp.
// Where a decimal area is used (e.g. TPP 2960 / area 500) the real quotient
// is exactly the threshold (5.92), and IEEE division rounds it to the same
// double as the literal `5.92`. Every case first asserts that relation
// between the computed figure and the threshold, so a case that stopped
// testing its boundary would fail rather than pass vacuously.

/// How a computed figure stands to a threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rel {
    Below,
    At,
    Above,
}

fn rel(x: f64, threshold: f64) -> Rel {
    if x < threshold {
        Rel::Below
    } else if x == threshold {
        Rel::At
    } else {
        Rel::Above
    }
}

fn spec(datacenter: bool, tpp: f64, area: Option<f64>, interconnect: Option<f64>) -> ChipSpec {
    ChipSpec {
        name: format!("test-{tpp}"),
        vendor: "test".into(),
        datacenter,
        dense_tops: vec![(8, tpp / 8.0)],
        die_area_mm2: area,
        interconnect_gbps: interconnect,
    }
}

fn dc(tpp: f64, area: f64) -> ChipSpec {
    spec(true, tpp, Some(area), Some(900.0))
}

/// What a boundary case checks before classifying.
#[derive(Clone, Copy, Debug)]
enum Check {
    Tpp(f64, Rel),
    Pd(f64, Rel),
    Interconnect(f64, Rel),
}

struct Edge {
    what: &'static str,
    chip: ChipSpec,
    check: Check,
    regime: Regime,
    want: Class,
}

fn edge(what: &'static str, chip: ChipSpec, check: Check, want: Class) -> Edge {
    Edge {
        what,
        chip,
        check,
        regime: Regime::EAR_2023_10,
        want,
    }
}

fn down(x: f64) -> f64 {
    x.next_down()
}

fn up(x: f64) -> f64 {
    x.next_up()
}

fn edges() -> Vec<Edge> {
    use Check::*;
    use Rel::*;
    let mut v = vec![
        // a.1: TPP ≥ 4800, whatever the PD. Area 4096 keeps PD < 1.6, out of
        // both b paragraphs, so just below 4800 is below-threshold.
        edge("a.1 at", dc(4800.0, 4096.0), Tpp(4800.0, At), A),
        edge(
            "a.1 ulp below",
            dc(down(4800.0), 4096.0),
            Tpp(4800.0, Below),
            BELOW,
        ),
        edge(
            "a.1 ulp above",
            dc(up(4800.0), 4096.0),
            Tpp(4800.0, Above),
            A,
        ),
        edge(
            "a.1 one below",
            dc(4799.0, 4096.0),
            Tpp(4800.0, Below),
            BELOW,
        ),
        edge("a.1 one above", dc(4801.0, 4096.0), Tpp(4800.0, Above), A),
        // a.2: TPP ≥ 1600 with PD ≥ 5.92. Area 256: PD 6.25 at TPP 1600.
        edge("a.2 TPP at", dc(1600.0, 256.0), Tpp(1600.0, At), A),
        edge(
            "a.2 TPP below",
            dc(down(1600.0), 256.0),
            Tpp(1600.0, Below),
            BELOW,
        ),
        edge(
            "a.2 TPP above",
            dc(up(1600.0), 256.0),
            Tpp(1600.0, Above),
            A,
        ),
        // a.2 PD 5.92, TPP 3031.04 = 5.92 × 512 (in b.1's TPP range, so just
        // below the PD threshold is 3A090.b, not below-threshold).
        edge("a.2 PD at", dc(5.92 * 512.0, 512.0), Pd(5.92, At), A),
        edge(
            "a.2 PD below",
            dc(down(5.92 * 512.0), 512.0),
            Pd(5.92, Below),
            B,
        ),
        edge(
            "a.2 PD above",
            dc(up(5.92 * 512.0), 512.0),
            Pd(5.92, Above),
            A,
        ),
        // The same with a decimal area: 2960 / 500 = 5.92 exactly in reals.
        edge("a.2 PD at (2960/500)", dc(2960.0, 500.0), Pd(5.92, At), A),
        edge(
            "a.2 PD below (2952/500)",
            dc(2952.0, 500.0),
            Pd(5.92, Below),
            B,
        ),
        // a.2 at TPP in [1600, 2400): just below PD 5.92 is b.2 (PD ≥ 3.2).
        // 1776 / 300 = 5.92 exactly in reals.
        edge("a.2/b.2 PD at", dc(1776.0, 300.0), Pd(5.92, At), A),
        edge("a.2/b.2 PD below", dc(1775.0, 300.0), Pd(5.92, Below), B),
        // b.1: 2400 ≤ TPP < 4800 and 1.6 ≤ PD < 5.92. Areas 1024 (TPP near
        // 2400) and 2048 (TPP near 4800) keep PD ≈ 2.34, in [1.6, 3.2), so
        // b.2 cannot apply.
        edge("b.1 TPP 2400 at", dc(2400.0, 1024.0), Tpp(2400.0, At), B),
        edge(
            "b.1 TPP 2400 below",
            dc(down(2400.0), 1024.0),
            Tpp(2400.0, Below),
            BELOW,
        ),
        edge(
            "b.1 TPP 2400 above",
            dc(up(2400.0), 1024.0),
            Tpp(2400.0, Above),
            B,
        ),
        edge(
            "b.1 TPP 4800 below",
            dc(down(4800.0), 2048.0),
            Tpp(4800.0, Below),
            B,
        ),
        edge(
            "b.1 TPP 4800 at (a.1)",
            dc(4800.0, 2048.0),
            Tpp(4800.0, At),
            A,
        ),
        // PD 1.6: TPP 3276.8 = 1.6 × 2048.
        edge("b.1 PD 1.6 at", dc(1.6 * 2048.0, 2048.0), Pd(1.6, At), B),
        edge(
            "b.1 PD 1.6 below",
            dc(down(1.6 * 2048.0), 2048.0),
            Pd(1.6, Below),
            BELOW,
        ),
        edge(
            "b.1 PD 1.6 above",
            dc(up(1.6 * 2048.0), 2048.0),
            Pd(1.6, Above),
            B,
        ),
        // PD 5.92 with TPP in b.1's range: at is a.2, just below is b.1.
        edge(
            "b.1 PD 5.92 below",
            dc(down(5.92 * 512.0), 512.0),
            Pd(5.92, Below),
            B,
        ),
        edge(
            "b.1 PD 5.92 at (a.2)",
            dc(5.92 * 512.0, 512.0),
            Pd(5.92, At),
            A,
        ),
        // b.2: TPP ≥ 1600 and 3.2 ≤ PD < 5.92, with TPP < 2400 so b.1
        // cannot apply. Area 400: PD 4 at TPP 1600.
        edge("b.2 TPP at", dc(1600.0, 400.0), Tpp(1600.0, At), B),
        edge(
            "b.2 TPP below",
            dc(down(1600.0), 400.0),
            Tpp(1600.0, Below),
            BELOW,
        ),
        edge(
            "b.2 TPP above",
            dc(up(1600.0), 400.0),
            Tpp(1600.0, Above),
            B,
        ),
        // PD 3.2: TPP 1638.4 = 3.2 × 512.
        edge("b.2 PD 3.2 at", dc(3.2 * 512.0, 512.0), Pd(3.2, At), B),
        edge(
            "b.2 PD 3.2 below",
            dc(down(3.2 * 512.0), 512.0),
            Pd(3.2, Below),
            BELOW,
        ),
        edge(
            "b.2 PD 3.2 above",
            dc(up(3.2 * 512.0), 512.0),
            Pd(3.2, Above),
            B,
        ),
        // PD 5.92 with TPP 1776 < 2400: at is a.2, just below is b.2.
        edge("b.2 PD 5.92 at (a.2)", dc(1776.0, 300.0), Pd(5.92, At), A),
        edge("b.2 PD 5.92 below", dc(1775.0, 300.0), Pd(5.92, Below), B),
        // Note 2: a consumer part is 3A090.a from TPP 4800, else outside,
        // whatever its PD (area 256 makes PD ≈ 18.75, far above 5.92).
        edge(
            "consumer at",
            spec(false, 4800.0, Some(256.0), None),
            Tpp(4800.0, At),
            A,
        ),
        edge(
            "consumer ulp below",
            spec(false, down(4800.0), Some(256.0), None),
            Tpp(4800.0, Below),
            BELOW,
        ),
        edge(
            "consumer ulp above",
            spec(false, up(4800.0), Some(256.0), None),
            Tpp(4800.0, Above),
            A,
        ),
        // ... even in b.1 / b.2 / a.2 territory.
        edge(
            "consumer a.2 figures",
            spec(false, 2000.0, Some(256.0), None),
            Tpp(4800.0, Below),
            BELOW,
        ),
        edge(
            "consumer b figures",
            spec(false, 3000.0, Some(1024.0), None),
            Tpp(4800.0, Below),
            BELOW,
        ),
        // Unknown die area: read as densest, so anything with TPP ≥ 1600 is
        // a.2 (3A090.a), below that it stays below-threshold.
        edge(
            "no area TPP 1600",
            spec(true, 1600.0, None, None),
            Tpp(1600.0, At),
            A,
        ),
        edge(
            "no area TPP below 1600",
            spec(true, down(1600.0), None, None),
            Tpp(1600.0, Below),
            BELOW,
        ),
        edge(
            "no area b.1 TPP",
            spec(true, 3000.0, None, None),
            Tpp(4800.0, Below),
            A,
        ),
        // Unknown die area on a consumer part changes nothing (PD unused).
        edge(
            "consumer no area",
            spec(false, 3000.0, None, None),
            Tpp(4800.0, Below),
            BELOW,
        ),
    ];
    // ear-2022-10: TPP ≥ 4800 AND interconnect ≥ 600 GB/s; no PD, no Note 2.
    let r22 = |what, chip, check, want| Edge {
        what,
        chip,
        check,
        regime: Regime::EAR_2022_10,
        want,
    };
    let s22 = |tpp, ic| spec(true, tpp, Some(4096.0), ic);
    v.extend([
        r22("2022 both at", s22(4800.0, Some(600.0)), Tpp(4800.0, At), A),
        r22(
            "2022 TPP ulp below",
            s22(down(4800.0), Some(600.0)),
            Tpp(4800.0, Below),
            BELOW,
        ),
        r22(
            "2022 TPP ulp above",
            s22(up(4800.0), Some(600.0)),
            Tpp(4800.0, Above),
            A,
        ),
        r22(
            "2022 interconnect ulp below",
            s22(4800.0, Some(down(600.0))),
            Interconnect(600.0, Below),
            BELOW,
        ),
        r22(
            "2022 interconnect at",
            s22(4800.0, Some(600.0)),
            Interconnect(600.0, At),
            A,
        ),
        r22(
            "2022 interconnect ulp above",
            s22(4800.0, Some(up(600.0))),
            Interconnect(600.0, Above),
            A,
        ),
        r22(
            "2022 interconnect 400",
            s22(20_000.0, Some(400.0)),
            Interconnect(600.0, Below),
            BELOW,
        ),
        // Unknown interconnect: assumed to meet the threshold (fail closed).
        r22(
            "2022 no interconnect",
            s22(4800.0, None),
            Tpp(4800.0, At),
            A,
        ),
        r22(
            "2022 no interconnect, TPP below",
            s22(down(4800.0), None),
            Tpp(4800.0, Below),
            BELOW,
        ),
        // No consumer carve-out and no PD test in 2022.
        r22(
            "2022 consumer",
            spec(false, 4800.0, Some(256.0), Some(600.0)),
            Tpp(4800.0, At),
            A,
        ),
        r22(
            "2022 dense die, low TPP",
            s22(2000.0, Some(900.0)),
            Tpp(4800.0, Below),
            BELOW,
        ),
    ]);
    v
}

#[test]
fn thresholds_at_and_around_their_boundaries() {
    let cases = edges();
    assert!(cases.len() >= 50);
    for e in &cases {
        let c = &e.chip;
        match e.check {
            Check::Tpp(t, want) => assert_eq!(rel(c.tpp(), t), want, "{}: TPP {}", e.what, c.tpp()),
            Check::Pd(t, want) => {
                let pd = c.performance_density().unwrap();
                assert_eq!(rel(pd, t), want, "{}: PD {pd}", e.what);
            }
            Check::Interconnect(t, want) => {
                let ic = c.interconnect_gbps.unwrap();
                assert_eq!(rel(ic, t), want, "{}: interconnect {ic}", e.what);
            }
        }
        assert_eq!(e.regime.classify(c), e.want, "{} ({:?})", e.what, e.regime);
    }
}

#[test]
fn ulp_nudges_are_one_step_from_the_threshold() {
    // The arithmetic the boundary table relies on.
    assert_eq!(dc(up(4800.0), 1.0).tpp(), up(4800.0));
    assert_eq!(dc(down(4800.0), 1.0).tpp(), down(4800.0));
    assert_eq!(dc(5.92 * 512.0, 512.0).performance_density(), Some(5.92));
    assert_eq!(
        dc(up(5.92 * 512.0), 512.0).performance_density(),
        Some(up(5.92))
    );
    assert_eq!(dc(2960.0, 500.0).performance_density(), Some(5.92));
    assert_eq!(dc(1776.0, 300.0).performance_density(), Some(5.92));
    assert_eq!(dc(1.6 * 2048.0, 2048.0).performance_density(), Some(1.6));
    assert_eq!(dc(3.2 * 512.0, 512.0).performance_density(), Some(3.2));
}

// ---------------------------------------------------------------------------
// Decimal figures exactly on, just above and just below each threshold
// ---------------------------------------------------------------------------
//
// Figures as a policy writes them, mostly not binary fractions. In `f64`,
// 212.6 × 8 / 531.5 is 3.1999999999999997, yet PD is exactly 3.2, "3.2 or
// more" in 3A090.b.2 (88 FR 73458). Every figure here has at most six
// decimals, so the test works the relations out exactly on integer
// millionths and checks the table against that before classifying.

/// Millionths in a unit.
const M: u128 = 1_000_000;

/// A decimal of at most six decimals, in millionths.
fn micros(s: &str) -> u128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 6, "{s}: more than six decimals");
    int.parse::<u128>().unwrap() * M + format!("{frac:0<6}").parse::<u128>().unwrap()
}

/// Millionths as the decimal a policy would write: `212.6`, `600.0`.
fn decimal(m: u128) -> String {
    let frac = format!("{:06}", m % M);
    let frac = frac.trim_end_matches('0');
    format!("{}.{}", m / M, if frac.is_empty() { "0" } else { frac })
}

/// A chip's figures in millionths: exact arithmetic, independent of the
/// crate.
#[derive(Clone, Debug)]
struct Exact {
    datacenter: bool,
    /// (bit length, dense TOPS in millionths).
    tops: Vec<(u32, u128)>,
    area: Option<u128>,
    interconnect: Option<u128>,
}

impl Exact {
    fn tpp(&self) -> u128 {
        let products = self.tops.iter().map(|&(b, t)| t * u128::from(b));
        products.max().unwrap_or(0)
    }

    /// TPP against `t` (a decimal).
    fn tpp_vs(&self, t: &str) -> std::cmp::Ordering {
        self.tpp().cmp(&micros(t))
    }

    /// PD against `t`: TPP / area against t, i.e. TPP × 10⁶ against
    /// t(millionths) × area. `None` without an area.
    fn pd_vs(&self, t: &str) -> Option<std::cmp::Ordering> {
        self.area.map(|a| (self.tpp() * M).cmp(&(micros(t) * a)))
    }

    /// ear-2023-10, spelled as 88 FR 73458 states it, ranges and all. A
    /// missing area is the densest case.
    fn class_2023(&self) -> Class {
        let tpp_ge = |t| self.tpp_vs(t).is_ge();
        let pd_ge = |t| self.pd_vs(t).is_none_or(|o| o.is_ge());
        if !self.datacenter {
            return if tpp_ge("4800") { A } else { BELOW };
        }
        let tpp_in = |lo, hi| tpp_ge(lo) && !tpp_ge(hi);
        let pd_in = |lo, hi| pd_ge(lo) && !pd_ge(hi);
        if tpp_ge("4800") || (tpp_ge("1600") && pd_ge("5.92")) {
            A
        } else if (tpp_in("2400", "4800") && pd_in("1.6", "5.92"))
            || (tpp_ge("1600") && pd_in("3.2", "5.92"))
        {
            B
        } else {
            BELOW
        }
    }

    /// ear-2022-10 (87 FR 62186); a missing interconnect meets 600 GB/s.
    fn class_2022(&self) -> Class {
        let ic_ok = self.interconnect.is_none_or(|ic| ic >= micros("600"));
        if self.tpp_vs("4800").is_ge() && ic_ok {
            A
        } else {
            BELOW
        }
    }

    /// The chip with each figure read as a policy loader reads it: the
    /// decimal text parsed into an `f64`.
    fn spec(&self, name: &str) -> ChipSpec {
        let f = |m: u128| decimal(m).parse::<f64>().unwrap();
        ChipSpec {
            name: name.into(),
            vendor: "test".into(),
            datacenter: self.datacenter,
            dense_tops: self.tops.iter().map(|&(b, t)| (b, f(t))).collect(),
            die_area_mm2: self.area.map(f),
            interconnect_gbps: self.interconnect.map(f),
        }
    }

    /// The chip as a `[[chips]]` table.
    fn toml(&self, name: &str) -> String {
        let tops: Vec<String> = self
            .tops
            .iter()
            .map(|&(b, t)| format!("{b} = {}", decimal(t)))
            .collect();
        let mut s = format!(
            "\n[[chips]]\nname = \"{name}\"\ndatacenter = {}\ndense_tops = {{ {} }}\n",
            self.datacenter,
            tops.join(", ")
        );
        if let Some(a) = self.area {
            s += &format!("die_area_mm2 = {}\n", decimal(a));
        }
        if let Some(ic) = self.interconnect {
            s += &format!("interconnect_gbps = {}\n", decimal(ic));
        }
        s
    }
}

/// Chips exactly on, just above and just below each threshold, figures as
/// a policy writes them. Columns: what | datacenter | dense TOPS by bit
/// length | die area | interconnect | the figure and threshold the case is
/// about, and where the figure stands (`at`, `above`, `below`) | class under
/// ear-2023-10 | class under ear-2022-10. `-`: not given.
const EXACT_CASES: &str = "
# b.2, PD 3.2 with TPP in [1600, 2400): 212.6 x 8 = 1700.8 and 1700.8 / 531.5
# = 3.2 exactly (3.1999999999999997 in f64).
b.2 PD 3.2 (212.6 / 531.5)       | yes | 8=212.6                | 531.5       | 900        | pd 3.2 at        | 3A090.b         | below-threshold
b.2 PD 3.2 (200.2 / 500.5)       | yes | 8=200.2                | 500.5       | 900        | pd 3.2 at        | 3A090.b         | below-threshold
b.2 PD 3.2, TOPS up              | yes | 8=212.600001           | 531.5       | 900        | pd 3.2 above     | 3A090.b         | below-threshold
b.2 PD 3.2, TOPS down            | yes | 8=212.599999           | 531.5       | 900        | pd 3.2 below     | below-threshold | below-threshold
b.2 PD 3.2, area up              | yes | 8=212.6                | 531.500001  | 900        | pd 3.2 below     | below-threshold | below-threshold
# a.2, PD 5.92 with TPP in [1600, 2400): 2054.24 / 347 = 5.92; just below
# is b.2 (PD >= 3.2).
a.2 PD 5.92 (256.78 / 347)       | yes | 8=256.78               | 347         | 900        | pd 5.92 at       | 3A090.a         | below-threshold
a.2 PD 5.92, TOPS up             | yes | 8=256.780001           | 347         | 900        | pd 5.92 above    | 3A090.a         | below-threshold
a.2 PD 5.92, TOPS down           | yes | 8=256.779999           | 347         | 900        | pd 5.92 below    | 3A090.b         | below-threshold
# a.2, PD 5.92 with TPP in b.1's range: 4114.4 / 695 = 5.92; just below is
# b.1.
a.2 PD 5.92 (514.3 / 695)        | yes | 8=514.3                | 695         | 900        | pd 5.92 at       | 3A090.a         | below-threshold
a.2 PD 5.92, TOPS down (b.1)     | yes | 8=514.299999           | 695         | 900        | pd 5.92 below    | 3A090.b         | below-threshold
a.2 PD 5.92, area up (b.1)       | yes | 8=514.3                | 695.000001  | 900        | pd 5.92 below    | 3A090.b         | below-threshold
# b.1, PD 1.6 with TPP in [2400, 4800): 2401.6 / 1501 = 1.6.
b.1 PD 1.6 (300.2 / 1501)        | yes | 8=300.2                | 1501        | 900        | pd 1.6 at        | 3A090.b         | below-threshold
b.1 PD 1.6, TOPS up              | yes | 8=300.200001           | 1501        | 900        | pd 1.6 above     | 3A090.b         | below-threshold
b.1 PD 1.6, TOPS down            | yes | 8=300.199999           | 1501        | 900        | pd 1.6 below     | below-threshold | below-threshold
b.1 PD 1.6, area up              | yes | 8=300.2                | 1501.000001 | 900        | pd 1.6 below     | below-threshold | below-threshold
# a.1, TPP 4800 from the larger of two products; area 4000 keeps PD (1.2)
# out of both b paragraphs.
a.1 TPP 4800 (8 x 600)           | yes | 8=600.0 16=299.999999  | 4000        | 900        | tpp 4800 at      | 3A090.a         | 3A090.a
a.1 TPP 4800 (16 x 300.000001)   | yes | 8=599.9 16=300.000001  | 4000        | 900        | tpp 4800 above   | 3A090.a         | 3A090.a
a.1 TPP 4800 (8 x 599.999999)    | yes | 8=599.999999 16=299.99 | 4000        | 900        | tpp 4800 below   | below-threshold | below-threshold
# Bit lengths that are not powers of two.
a.1 TPP 4800 (6 x 800)           | yes | 6=800                  | 4000        | 900        | tpp 4800 at      | 3A090.a         | 3A090.a
a.1 TPP 4800 (6 x 799.999999)    | yes | 6=799.999999           | 4000        | 900        | tpp 4800 below   | below-threshold | below-threshold
a.1 TPP 4800 (125 x 38.4)        | yes | 125=38.4               | 4000        | 900        | tpp 4800 at      | 3A090.a         | 3A090.a
a.1 TPP 4800 (125 x 38.399999)   | yes | 125=38.399999          | 4000        | 900        | tpp 4800 below   | below-threshold | below-threshold
# b.1, TPP 2400 with PD 2 (area 1200), so b.2 cannot apply.
b.1 TPP 2400 (8 x 300)           | yes | 8=300 16=149.999999    | 1200        | 900        | tpp 2400 at      | 3A090.b         | below-threshold
b.1 TPP 2400 (16 x 150.000001)   | yes | 16=150.000001          | 1200        | 900        | tpp 2400 above   | 3A090.b         | below-threshold
b.1 TPP 2400 (8 x 299.999999)    | yes | 8=299.999999           | 1200        | 900        | tpp 2400 below   | below-threshold | below-threshold
b.1 TPP 2400 (125 x 19.2)        | yes | 125=19.2               | 1200        | 900        | tpp 2400 at      | 3A090.b         | below-threshold
# b.1 up to TPP 4800 (area 2000, PD 2.4), a.1 from there.
b.1 TPP 4800 (16 x 299.999999)   | yes | 16=299.999999          | 2000        | 900        | tpp 4800 below   | 3A090.b         | below-threshold
b.1 TPP 4800 (16 x 300)          | yes | 16=300                 | 2000        | 900        | tpp 4800 at      | 3A090.a         | 3A090.a
# TPP 1600: a.2 with area 250 (PD 6.4), b.2 with area 400 (PD 4).
a.2 TPP 1600 (8 x 200)           | yes | 8=200 16=99.9          | 250         | 900        | tpp 1600 at      | 3A090.a         | below-threshold
a.2 TPP 1600 (16 x 100.000001)   | yes | 16=100.000001          | 250         | 900        | tpp 1600 above   | 3A090.a         | below-threshold
a.2 TPP 1600 (8 x 199.999999)    | yes | 8=199.999999           | 250         | 900        | tpp 1600 below   | below-threshold | below-threshold
a.2 TPP 1600 (125 x 12.8)        | yes | 125=12.8               | 250         | 900        | tpp 1600 at      | 3A090.a         | below-threshold
b.2 TPP 1600 (8 x 200)           | yes | 8=200                  | 400         | 900        | tpp 1600 at      | 3A090.b         | below-threshold
b.2 TPP 1600 (8 x 199.999999)    | yes | 8=199.999999           | 400         | 900        | tpp 1600 below   | below-threshold | below-threshold
# No die area: the densest case, so a.2 from TPP 1600.
no area TPP 1600 (125 x 12.8)    | yes | 125=12.8               | -           | 900        | tpp 1600 at      | 3A090.a         | below-threshold
no area TPP 1600 (125 x 12.799999) | yes | 125=12.799999        | -           | 900        | tpp 1600 below   | below-threshold | below-threshold
# Note 2: a consumer part is 3A090.a from TPP 4800, whatever its PD.
consumer TPP 4800 (8 x 600)      | no  | 8=600 16=299.9         | 250         | -          | tpp 4800 at      | 3A090.a         | 3A090.a
consumer TPP 4800 (8 x 599.999999) | no | 8=599.999999         | 250         | -          | tpp 4800 below   | below-threshold | below-threshold
consumer PD 3.2 (212.6 / 531.5)  | no  | 8=212.6                | 531.5       | -          | pd 3.2 at        | below-threshold | below-threshold
# ear-2022-10: interconnect 600 GB/s, with TPP exactly 4800.
2022 interconnect 600            | yes | 16=300                 | 4000        | 600        | ic 600 at        | 3A090.a         | 3A090.a
2022 interconnect 600.000001     | yes | 16=300                 | 4000        | 600.000001 | ic 600 above     | 3A090.a         | 3A090.a
2022 interconnect 599.999999     | yes | 16=300                 | 4000        | 599.999999 | ic 600 below     | 3A090.a         | below-threshold
2022 TPP 4800 (6 x 799.999999)   | yes | 6=799.999999           | 4000        | 600.1      | tpp 4800 below   | below-threshold | below-threshold
2022 TPP 4800 (125 x 38.4)       | yes | 125=38.4               | 4000        | 600        | tpp 4800 at      | 3A090.a         | 3A090.a
2022 no interconnect             | yes | 125=38.4               | 4000        | -          | tpp 4800 at      | 3A090.a         | 3A090.a
";

struct ExactCase {
    what: String,
    chip: Exact,
    /// `tpp`, `pd` or `ic`, and the threshold.
    on: (String, String),
    rel: Rel,
    class_2023: Class,
    class_2022: Class,
}

fn exact_cases() -> Vec<ExactCase> {
    let figure = |s: &str| (s != "-").then(|| micros(s));
    EXACT_CASES
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(f.len(), 8, "{line}");
            let tops = f[2]
                .split_whitespace()
                .map(|e| {
                    let (bits, tops) = e.split_once('=').unwrap();
                    (bits.parse().unwrap(), micros(tops))
                })
                .collect();
            let on: Vec<&str> = f[5].split_whitespace().collect();
            let rel = match on[2] {
                "at" => Rel::At,
                "above" => Rel::Above,
                "below" => Rel::Below,
                other => panic!("{other}"),
            };
            ExactCase {
                what: f[0].to_owned(),
                chip: Exact {
                    datacenter: f[1] == "yes",
                    tops,
                    area: figure(f[3]),
                    interconnect: figure(f[4]),
                },
                on: (on[0].to_owned(), on[1].to_owned()),
                rel,
                class_2023: f[6].parse().unwrap(),
                class_2022: f[7].parse().unwrap(),
            }
        })
        .collect()
}

impl ExactCase {
    /// How the figure stands to the threshold, worked out exactly.
    fn actual_rel(&self) -> Rel {
        let (what, t) = (self.on.0.as_str(), self.on.1.as_str());
        let o = match what {
            "tpp" => self.chip.tpp_vs(t),
            "pd" => self.chip.pd_vs(t).unwrap(),
            "ic" => self.chip.interconnect.unwrap().cmp(&micros(t)),
            other => panic!("{other}"),
        };
        match o {
            std::cmp::Ordering::Less => Rel::Below,
            std::cmp::Ordering::Equal => Rel::At,
            std::cmp::Ordering::Greater => Rel::Above,
        }
    }
}

#[test]
fn decimal_figures_at_and_around_their_thresholds() {
    let cases = exact_cases();
    for c in &cases {
        // The table is right: the relation and both classes, exactly.
        assert_eq!(c.actual_rel(), c.rel, "{}: {:?}", c.what, c.on);
        assert_eq!(c.chip.class_2023(), c.class_2023, "{}: table", c.what);
        assert_eq!(c.chip.class_2022(), c.class_2022, "{}: table", c.what);
        let spec = c.chip.spec(&c.what);
        assert_eq!(
            Regime::EAR_2023_10.classify(&spec),
            c.class_2023,
            "{}",
            c.what
        );
        assert_eq!(
            Regime::EAR_2022_10.classify(&spec),
            c.class_2022,
            "{} (2022)",
            c.what
        );
    }
    // The same through a policy file, figures as written.
    let mut text = String::from("[policy]\nname = \"t\"\ncountry_lists_as_of = \"2026-07-08\"\n");
    for (i, c) in cases.iter().enumerate() {
        text += &c.chip.toml(&format!("c{i}"));
    }
    let policy = Policy::from_toml(&text, "t.toml", None).unwrap();
    let c2022 = policy.catalog().with_regime(Regime::EAR_2022_10);
    for (i, c) in cases.iter().enumerate() {
        let name = format!("c{i}");
        let chip = policy.catalog().chip(&name).unwrap();
        assert_eq!(chip.class(), c.class_2023, "{} (policy)", c.what);
        assert_eq!(
            c2022.chip(&name).unwrap().class(),
            c.class_2022,
            "{} (policy, 2022)",
            c.what
        );
    }
}

#[test]
fn pd_exactly_3_2_is_3a090b_and_shows_as_3_2() {
    // 212.6 × 8 / 531.5 = 3.2: "3.2 or more" (3A090.b.2), not
    // 3.1999999999999997.
    let text = r#"
[policy]
name = "t"
country_lists_as_of = "2026-07-08"

[[chips]]
name = "X"
datacenter = true
dense_tops = { 8 = 212.6 }
die_area_mm2 = 531.5
"#;
    let policy = Policy::from_toml(text, "t.toml", None).unwrap();
    let chip = policy.catalog().chip("X").unwrap();
    assert_eq!(chip.class(), B);
    assert_eq!(chip.tpp(), 1700.8);
    assert_eq!(chip.performance_density(), Some(3.2));
    assert_eq!(chip.spec().performance_density(), Some(3.2));
}

/// Figures of ≤ 6 decimals with TPP mostly between 1000 and 6000, often
/// exactly on a threshold (TOPS for an exact TPP; TOPS and area for an exact
/// PD), nudged by -1, 0 or +1 millionth.
fn exact_chip() -> impl Strategy<Value = Exact> {
    let bits = prop_oneof![
        prop::sample::select(vec![4u32, 6, 8, 16, 32, 64, 125]),
        1u32..=128,
    ];
    let tpp_t = prop::sample::select(vec![1600u128, 2400, 4800]);
    let pd_t = prop::sample::select(vec![592u128, 320, 160]); // hundredths
    let nudge = -1i128..=1;
    // A TPP in millionths, and a share of a range in millionths.
    let tpp = 1000 * M..=6000 * M;
    let share = 0..M;
    let area = 1u128..=2_000 * M;
    let on_tpp = (tpp_t, bits.clone(), nudge.clone(), area.clone()).prop_map(|(t, b, n, area)| {
        let tops = (t * M / u128::from(b)).saturating_add_signed(n).max(1);
        (b, tops, area)
    });
    // TOPS = t × j, area = 100 × bits × j: PD exactly t / 100.
    let on_pd = (pd_t.clone(), bits.clone(), nudge.clone(), share).prop_map(|(t, b, n, share)| {
        let per_j = t * u128::from(b);
        let (lo, hi) = (1000 * M / per_j + 1, 6000 * M / per_j);
        let j = lo + share % (hi - lo + 1);
        (
            b,
            (t * j).saturating_add_signed(n).max(1),
            100 * u128::from(b) * j,
        )
    });
    // Any TOPS, and the area that puts PD on the threshold when it divides.
    let on_pd_area = (pd_t, bits.clone(), nudge.clone(), tpp.clone()).prop_map(|(t, b, n, tpp)| {
        let tops = (tpp / u128::from(b)).max(1);
        let area = (tops * u128::from(b) * 100 / t)
            .saturating_add_signed(n)
            .max(1);
        (b, tops, area)
    });
    let anything = (bits.clone(), tpp, area)
        .prop_map(|(b, tpp, area)| (b, (tpp / u128::from(b)).max(1), area));
    let main = prop_oneof![on_tpp, on_pd, on_pd_area, anything];
    let other = prop::option::of((bits, 1u128..=1_000 * M));
    let interconnect = prop::option::of(prop_oneof![
        nudge.prop_map(|n| (600 * M).saturating_add_signed(n)),
        0u128..=2_000 * M,
    ]);
    let datacenter = prop::bool::weighted(0.8);
    let has_area = prop::bool::weighted(0.9);
    (main, other, datacenter, has_area, interconnect).prop_map(
        |((b, tops, area), other, datacenter, has_area, interconnect)| Exact {
            datacenter,
            tops: std::iter::once((b, tops)).chain(other).collect(),
            area: has_area.then_some(area),
            interconnect,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The class equals the one worked out on exact rationals: never
    /// weaker (a wrong allow), never stronger.
    #[test]
    fn class_matches_exact_arithmetic(chip in exact_chip()) {
        let spec = chip.spec("p");
        prop_assert_eq!(Regime::EAR_2023_10.classify(&spec), chip.class_2023(), "{:?}", chip);
        prop_assert_eq!(Regime::EAR_2022_10.classify(&spec), chip.class_2022(), "{:?}", chip);
    }
}

// ---------------------------------------------------------------------------
// TPP and PD arithmetic
// ---------------------------------------------------------------------------

#[test]
fn tpp_is_the_maximum_over_bit_lengths() {
    let mk = |tops: &[(u32, f64)], area: Option<f64>| ChipSpec {
        name: "x".into(),
        vendor: String::new(),
        datacenter: true,
        dense_tops: tops.to_vec(),
        die_area_mm2: area,
        interconnect_gbps: None,
    };
    // (dense TOPS by bit length, expected TPP, which bit length wins)
    let cases: &[(&[(u32, f64)], f64)] = &[
        // INT4 wins: 1300 × 4 = 5200 > 600 × 8 = 4800 > 250 × 16 = 4000.
        (&[(4, 1300.0), (8, 600.0), (16, 250.0)], 5200.0),
        // INT8 wins.
        (&[(4, 1000.0), (8, 600.0), (16, 250.0)], 4800.0),
        // FP16 wins.
        (&[(4, 1000.0), (8, 400.0), (16, 350.0)], 5600.0),
        // Order of the entries does not matter.
        (&[(16, 350.0), (4, 1000.0), (8, 400.0)], 5600.0),
        // One bit length.
        (&[(16, 125.0)], 2000.0),
        // Equal products.
        (&[(8, 130.0), (16, 65.0), (4, 260.0)], 1040.0),
        // TF32 counted at 32 bits.
        (&[(8, 380.0), (16, 190.0), (32, 190.0)], 6080.0),
    ];
    for (tops, want) in cases {
        let c = mk(tops, Some(1000.0));
        assert_eq!(c.tpp(), *want, "{tops:?}");
        assert_eq!(c.performance_density(), Some(want / 1000.0), "{tops:?}");
        assert_eq!(mk(tops, None).performance_density(), None);
    }
    // The class follows the maximum: INT8 alone would be below-threshold
    // (TPP 1000, PD 1), INT4 makes it 3A090.a.1.
    let int8_only = mk(&[(8, 125.0)], Some(1000.0));
    let with_int4 = mk(&[(8, 125.0), (4, 1200.0)], Some(1000.0));
    assert_eq!(Regime::EAR_2023_10.classify(&int8_only), BELOW);
    assert_eq!(Regime::EAR_2023_10.classify(&with_int4), A);
}

#[test]
fn regimes_by_name() {
    assert_eq!(Regime::default(), Regime::EAR_2023_10);
    assert_eq!(Regime::by_name("ear-2023-10"), Some(Regime::EAR_2023_10));
    assert_eq!(Regime::by_name("ear-2022-10"), Some(Regime::EAR_2022_10));
    assert_eq!(Regime::by_name("ear-2025-01"), None);
    assert_eq!(Regime::by_name("EAR-2023-10"), None);
    assert_eq!(Regime::ALL.len(), 2);
    for r in Regime::ALL {
        assert_eq!(Regime::by_name(r.name()), Some(r));
        assert!(!r.citation().is_empty());
    }
    assert_ne!(Regime::EAR_2023_10, Regime::EAR_2022_10);
}

// ---------------------------------------------------------------------------
// Instance types
// ---------------------------------------------------------------------------

/// Instance type → (chip, chips per instance, class under ear-2023-10), from
/// the sources named in the row comments of `policies/default.toml`.
const INSTANCES: &[(&str, Option<&str>, u32, Class)] = &[
    // AWS
    ("p5.48xlarge", Some("H100-SXM"), 8, A),
    ("p5.4xlarge", Some("H100-SXM"), 1, A),
    ("p5e.48xlarge", Some("H200-SXM"), 8, A),
    ("p5en.48xlarge", Some("H200-SXM"), 8, A),
    ("p4d.24xlarge", Some("A100-SXM"), 8, A),
    ("p4de.24xlarge", Some("A100-SXM"), 8, A),
    ("p3.2xlarge", Some("V100-SXM2"), 1, BELOW),
    ("p3.8xlarge", Some("V100-SXM2"), 4, BELOW),
    ("p3.16xlarge", Some("V100-SXM2"), 8, BELOW),
    ("p3dn.24xlarge", Some("V100-SXM2"), 8, BELOW),
    ("g5.xlarge", Some("A10G"), 1, BELOW),
    ("g5.12xlarge", Some("A10G"), 4, BELOW),
    ("g5.48xlarge", Some("A10G"), 8, BELOW),
    ("g6.xlarge", Some("L4"), 1, A),
    ("g6.48xlarge", Some("L4"), 8, A),
    ("gr6.8xlarge", Some("L4"), 1, A),
    ("g6e.xlarge", Some("L40S"), 1, A),
    ("g4dn.xlarge", Some("T4"), 1, BELOW),
    ("g4dn.12xlarge", Some("T4"), 4, BELOW),
    ("g4dn.metal", Some("T4"), 8, BELOW),
    ("trn1.2xlarge", Some("Trainium"), 1, A),
    ("trn1.32xlarge", Some("Trainium"), 16, A),
    ("trn1n.32xlarge", Some("Trainium"), 16, A),
    ("trn2.48xlarge", Some("Trainium2"), 16, A),
    ("inf2.48xlarge", Some("Inferentia2"), 12, A),
    // Azure
    ("Standard_ND96isr_H100_v5", Some("H100-SXM"), 8, A),
    ("Standard_ND96asr_v4", Some("A100-SXM"), 8, A),
    ("Standard_ND96amsr_A100_v4", Some("A100-SXM"), 8, A),
    ("Standard_NC24ads_A100_v4", Some("A100-PCIe"), 1, A),
    ("Standard_NC96ads_A100_v4", Some("A100-PCIe"), 4, A),
    ("Standard_NC40ads_H100_v5", Some("H100-NVL"), 1, A),
    ("Standard_NC80adis_H100_v5", Some("H100-NVL"), 2, A),
    ("Standard_ND96isr_MI300X_v5", Some("MI300X"), 8, A),
    ("Standard_NC4as_T4_v3", Some("T4"), 1, BELOW),
    ("Standard_NC64as_T4_v3", Some("T4"), 4, BELOW),
    ("Standard_NC6s_v3", Some("V100-PCIe"), 1, BELOW),
    // Google Cloud
    ("a3-highgpu-8g", Some("H100-SXM"), 8, A),
    ("a3-megagpu-8g", Some("H100-SXM"), 8, A),
    ("a3-ultragpu-8g", Some("H200-SXM"), 8, A),
    ("a2-highgpu-1g", Some("A100-SXM"), 1, A),
    ("a2-highgpu-8g", Some("A100-SXM"), 8, A),
    ("a2-ultragpu-8g", Some("A100-SXM"), 8, A),
    ("g2-standard-4", Some("L4"), 1, A),
    // CPU-only, through patterns
    ("m7i.large", None, 0, NONE),
    ("m7i.48xlarge", None, 0, NONE),
    ("c7g.medium", None, 0, NONE),
    ("t3.micro", None, 0, NONE),
    ("Standard_D4s_v5", None, 0, NONE),
    ("Standard_E8s_v5", None, 0, NONE),
    ("n2-standard-8", None, 0, NONE),
    ("e2-medium", None, 0, NONE),
];

#[test]
fn default_catalog_instance_types() {
    let policy = Policy::embedded_default();
    let catalog = policy.catalog();
    assert!(INSTANCES.len() >= 35);
    for &(name, chip, count, class) in INSTANCES {
        let info = catalog
            .lookup(name)
            .unwrap_or_else(|| panic!("{name} missing from the default catalog"));
        assert_eq!(info.chip.map(|c| c.name()), chip, "{name}: chip");
        assert_eq!(info.chips_per_instance, count, "{name}: count");
        assert_eq!(info.class(), class, "{name}: class");
        if chip.is_some() {
            assert_eq!(info.entry, name, "{name}: exact entry");
        } else {
            assert_ne!(info.entry, name, "{name}: matched by a pattern");
        }
    }
}

#[test]
fn default_catalog_instance_types_under_the_2022_rule() {
    // Instance classes follow their chip's class under the regime.
    let policy = Policy::embedded_default();
    let catalog = policy.catalog().with_regime(Regime::EAR_2022_10);
    for (name, want) in [
        ("p5.48xlarge", A),
        ("p4d.24xlarge", A),
        ("g6.xlarge", BELOW),
        ("g6e.xlarge", BELOW),
        ("inf2.48xlarge", BELOW),
        ("trn1.32xlarge", A),
        ("m7i.large", NONE),
    ] {
        assert_eq!(catalog.lookup(name).unwrap().class(), want, "{name}");
    }
}

#[test]
fn default_catalog_patterns_and_unknowns() {
    let policy = Policy::embedded_default();
    let catalog = policy.catalog();
    for (name, entry) in [
        ("m7i.large", "m7i.*"),
        ("m7i.", "m7i.*"),
        ("m7g.xlarge", "m7g.*"),
        ("Standard_D2s_v3", "Standard_D*"),
        ("n2d-standard-2", "n2d-standard-*"),
        ("n2-standard-2", "n2-standard-*"),
    ] {
        let info = catalog.lookup(name).unwrap();
        assert_eq!(info.entry, entry, "{name}");
        assert_eq!(info.class(), NONE, "{name}");
        assert_eq!(info.chip, None);
        assert_eq!(info.chips_per_instance, 0);
    }
    for name in [
        "m7i",
        "M7I.large",
        "p5.48XLARGE",
        "p6.48xlarge",
        "g5",
        "",
        "x1e.xlarge",
        " p5.48xlarge",
        "p5.48xlarge ",
        "Standard_ND96isr_H100_v6",
    ] {
        assert!(catalog.lookup(name).is_none(), "{name:?} should be unknown");
    }
}

fn spec_named(name: &str) -> ChipSpec {
    ChipSpec {
        name: name.into(),
        vendor: String::new(),
        datacenter: true,
        dense_tops: vec![(8, 2000.0)],
        die_area_mm2: Some(800.0),
        interconnect_gbps: Some(900.0),
    }
}

fn inst(name: &str, chip: Option<usize>, chips: u32) -> InstanceSpec {
    InstanceSpec {
        name: name.into(),
        chip,
        chips,
    }
}

#[test]
fn lookup_precedence() {
    // Chip 0 and chip 1 differ only in name; the entry and the count tell
    // which catalog entry matched.
    let entries = vec![
        inst("*", None, 0),
        inst("g*", Some(0), 1),
        inst("g5.*", Some(0), 2),
        inst("g5.?xlarge", Some(0), 3),
        inst("g5.xlarge", Some(1), 4),
        inst("g5.2*", Some(1), 5),
    ];
    let cases: &[(&str, Option<&str>, u32)] = &[
        // exact beats every pattern
        ("g5.xlarge", Some("g5.xlarge"), 4),
        // "g5.?xlarge" (9 literal characters) beats "g5.*" (3) and "g*" (1)
        ("g5.4xlarge", Some("g5.?xlarge"), 3),
        // "g5.2*" (4 literals) beats "g5.*"; "g5.?xlarge" does not match
        ("g5.24xlarge", Some("g5.2*"), 5),
        // "g5.?xlarge" (9) beats "g5.2*" (4) when both match
        ("g5.2xlarge", Some("g5.?xlarge"), 3),
        ("g5.metal", Some("g5.*"), 2),
        ("g6.xlarge", Some("g*"), 1),
        ("m7i.large", Some("*"), 0),
    ];
    let check = |catalog: &Catalog| {
        for &(name, entry, count) in cases {
            let info = catalog.lookup(name);
            assert_eq!(info.map(|i| i.entry), entry, "{name}");
            assert_eq!(info.map(|i| i.chips_per_instance), Some(count), "{name}");
        }
    };
    let chips = vec![spec_named("c0"), spec_named("c1")];
    let catalog = Catalog::new(Regime::EAR_2023_10, chips.clone(), entries.clone());
    check(&catalog);
    // The order of the entries does not matter.
    let mut reversed = entries;
    reversed.reverse();
    check(&Catalog::new(Regime::EAR_2023_10, chips, reversed));

    // Without the catch-all, unknown names are `None`.
    let narrow = Catalog::new(
        Regime::EAR_2023_10,
        vec![spec_named("c0")],
        vec![inst("g5.*", Some(0), 1), inst("p5.48xlarge", Some(0), 8)],
    );
    for name in ["m7i.large", "g5", "p5.48xlarge.", "G5.xlarge"] {
        assert!(narrow.lookup(name).is_none(), "{name}");
    }
    assert_eq!(narrow.lookup("p5.48xlarge").unwrap().chips_per_instance, 8);
}

#[test]
fn lookup_precedence_through_a_policy_file() {
    // The same rules through TOML: an exact name for a GPU size inside a
    // CPU-only pattern family wins, and a longer pattern wins.
    let text = r#"
[policy]
name = "t"
country_lists_as_of = "2026-07-08"

[[chips]]
name = "X"
datacenter = true
dense_tops = { 8 = 1000 }
die_area_mm2 = 100

[[instance_types]]
name = "m7i.*"
[[instance_types]]
name = "m7i.gpu"
chip = "X"
chips = 2
[[instance_types]]
name = "m7i.gpu*"
chip = "X"
chips = 4
"#;
    let policy = Policy::from_toml(text, "t.toml", None).unwrap();
    let c = policy.catalog();
    assert_eq!(c.lookup("m7i.large").unwrap().class(), NONE);
    let exact = c.lookup("m7i.gpu").unwrap();
    assert_eq!((exact.entry, exact.chips_per_instance), ("m7i.gpu", 2));
    assert_eq!(exact.class(), A); // TPP 8000
    let longer = c.lookup("m7i.gpu8").unwrap();
    assert_eq!((longer.entry, longer.chips_per_instance), ("m7i.gpu*", 4));
    assert!(c.lookup("m6i.large").is_none());
}

#[test]
fn catalog_listing() {
    let policy = Policy::embedded_default();
    let all = policy.catalog().instance_types();
    assert!(all.len() >= 35 + 17);
    // Exact names sorted, then patterns.
    let first_pattern = all.iter().position(|i| i.entry.contains('*')).unwrap();
    let exact: Vec<&str> = all[..first_pattern].iter().map(|i| i.entry).collect();
    let mut sorted = exact.clone();
    sorted.sort_unstable();
    assert_eq!(exact, sorted);
    assert!(
        all[first_pattern..]
            .iter()
            .all(|i| i.entry.contains(['*', '?']))
    );
    for (name, ..) in INSTANCES.iter().filter(|r| r.1.is_some()) {
        assert!(exact.contains(name), "{name}");
    }
    assert!(policy.catalog().chips().len() >= 20);
}
