//! Inputs the `object_read` fuzz target once crashed on (files in `tests/crashers/`,
//! each named after what it found): each must now be handled without a panic.

use xsplice_diff::classify::{Shift, line_only_delta};
use xsplice_diff::dwarf::DebugInfo;
use xsplice_diff::fuzz::fuzz_object;
use xsplice_diff::keys::FieldDelta;

#[test]
fn fuzz_crashers_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashers");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        fuzz_object(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "no crashers in {}", dir.display());
}

/// `line-delta-overflow`: an immediate changed from a negative to a large positive
/// value made the line-shift difference overflow `i64`. Such a change is no line shift.
#[test]
fn line_delta_of_extreme_values_is_no_shift() {
    let field = |orig, patched| FieldDelta {
        offset: 0,
        what: "bytes",
        orig,
        patched,
    };
    let dbg = DebugInfo::default();
    let allowed: Vec<Shift> = [1, -1]
        .into_iter()
        .map(|delta| Shift {
            delta,
            decl: None,
            what: "the function".into(),
        })
        .collect();
    for (o, p) in [(i64::MIN, 0), (-2, i64::MAX), (i64::MAX, i64::MIN)] {
        assert_eq!(line_only_delta(&[field(o, p)], &allowed, &dbg, &dbg), None);
    }
    // A second field overflowing while the first is a plausible shift.
    assert_eq!(
        line_only_delta(
            &[field(10, 11), field(i64::MIN, i64::MAX)],
            &allowed,
            &dbg,
            &dbg
        ),
        None
    );
}
