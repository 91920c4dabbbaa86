pub mod correlate;
pub mod dwarf;
pub mod keys;
pub mod names;
pub mod object;
pub mod problem;
