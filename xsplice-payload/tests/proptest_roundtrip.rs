//! Generated models round-trip: model → bytes → model, equal; and writing is a
//! function of the model. The generator is `mutate::model_from_bytes`, shared with
//! the round-trip fuzz target, so proptest shrinks plain bytes.

use proptest::prelude::*;
use xsplice_payload::mutate::{fuzz_roundtrip, model_from_bytes};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_models_round_trip(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        model_from_bytes(&data).validate(xsplice_payload::Flavour::Xsplice).expect("the generator builds valid models");
        fuzz_roundtrip(&data);
    }
}

#[test]
fn the_generator_covers_the_format() {
    use xsplice_payload::ContentKind;
    let mut kinds = std::collections::BTreeSet::new();
    let (mut with_old, mut with_deps, mut undefined) = (0, 0, 0);
    for seed in 0u64..300 {
        let data: Vec<u8> = (0..2048u64)
            .map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 40503) >> 7) as u8)
            .collect();
        let m = model_from_bytes(&data);
        kinds.extend(m.sections.iter().map(|s| s.kind));
        with_old += usize::from(m.old.is_some());
        with_deps += usize::from(!m.depends.is_empty());
        undefined += m.symbols.iter().filter(|s| s.definition.is_none()).count();
    }
    assert!(
        kinds.contains(&ContentKind::Bss) && kinds.contains(&ContentKind::Strings),
        "{kinds:?}"
    );
    assert!(with_old > 0 && with_deps > 0 && undefined > 0);
}
