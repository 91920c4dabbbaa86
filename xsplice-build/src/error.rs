//! Errors of the builder. Each names the file, directory or command involved.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: bad compile record: {why}")]
    Record { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    Config { path: PathBuf, why: String },
    #[error("input {path}: {why}")]
    Input { path: PathBuf, why: String },
    #[error("{what}")]
    Usage { what: String },
    #[error("--patch {patch}: {why}")]
    Patch { patch: PathBuf, why: String },
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(
        "building the {side} failed: `{command}` in {dir} exited with {code}; full log: {log}\n{tail}"
    )]
    Make {
        side: &'static str,
        command: String,
        dir: PathBuf,
        code: i32,
        log: PathBuf,
        tail: String,
    },
    #[error("compiling {source_file} ({side} side) failed with exit {code} in {dir}:\n{stderr}")]
    Compile {
        side: &'static str,
        source_file: String,
        dir: PathBuf,
        code: i32,
        stderr: String,
    },
    #[error(transparent)]
    Image(#[from] xsplice_image::ImageError),
    #[error("--depends {path}: {why}")]
    Depends { path: PathBuf, why: String },
    #[error(transparent)]
    Diff(#[from] xsplice_diff::DiffError),
    #[error("{path}: cannot encode the payload: {why}")]
    Write { path: PathBuf, why: String },
    #[error("{path}: the tree's build wrote an object outside the tree ({object})")]
    OutsideTree { path: PathBuf, object: String },
}

impl BuildError {
    pub fn io(path: &Path, source: std::io::Error) -> BuildError {
        BuildError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
