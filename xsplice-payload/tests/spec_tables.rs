//! `specs/payload-format.md` §2 is normative: its tables (structure size, section,
//! every field's offset and size, which fields are pointers) must say exactly what
//! `layout.rs` — and so the writer and the reader — implement.

use xsplice_payload::layout::{ALL_STRUCTS, PAYLOAD_VERSION};

/// One `### 2.N \`struct NAME\` — SIZE bytes, section \`SECTION\`` heading and the
/// `| offset | size | field | meaning |` rows under it.
#[derive(Debug, PartialEq)]
struct SpecStruct {
    name: String,
    size: usize,
    section: String,
    /// (offset, size, field name, is a pointer: "→" in the meaning column)
    fields: Vec<(usize, usize, String, bool)>,
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let len = s[start..].find(close)?;
    Some(&s[start..start + len])
}

fn spec_structs(text: &str) -> Vec<SpecStruct> {
    let mut out: Vec<SpecStruct> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### 2.") {
            let (Some(name), Some(size), Some(section)) = (
                between(h, "`struct ", "`"),
                between(h, "— ", " bytes"),
                between(h, "section `", "`"),
            ) else {
                continue;
            };
            out.push(SpecStruct {
                name: name.to_string(),
                size: size.parse().expect("size in a §2 heading"),
                section: section.to_string(),
                fields: Vec::new(),
            });
        } else if line.starts_with("## ") && !line.starts_with("## 2.") {
            if !out.is_empty() {
                break;
            }
        } else if let Some(cur) = out.last_mut() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // "", offset, size, field, meaning, ""
            if cells.len() != 6 {
                continue;
            }
            let (Ok(offset), Ok(size)) = (cells[1].parse(), cells[2].parse()) else {
                continue;
            };
            let field = cells[3].trim_matches('`').to_string();
            // A pointer field's meaning starts with "→ target section", or the
            // field column says "name` → `.section".
            let pointer = cells[3].contains('→') || cells[4].starts_with('→');
            let field = field.split('`').next().unwrap().trim().to_string();
            cur.fields.push((offset, size, field, pointer));
        }
    }
    out
}

#[test]
fn the_specs_structure_tables_are_the_layout() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/payload-format.md");
    let text = std::fs::read_to_string(path).unwrap();
    let spec = spec_structs(&text);
    let ours: Vec<SpecStruct> = ALL_STRUCTS
        .iter()
        .map(|s| SpecStruct {
            name: s.name.to_string(),
            size: s.size,
            section: s.section.to_string(),
            fields: s
                .fields
                .iter()
                .map(|f| (f.offset, f.width, f.name.to_string(), f.pointer))
                .collect(),
        })
        .collect();
    assert_eq!(spec, ours);
    assert!(
        text.contains("| 0 | 4 | `version` | format version: MUST be 1 |") && PAYLOAD_VERSION == 1
    );
}
